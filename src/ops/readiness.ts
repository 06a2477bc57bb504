// What /readyz reports: ready once the traffic rules are in place and subnet.env is written (upstream's rule).
export class Readiness {
  private rules = false;
  private subnetFile = false;

  markRulesInPlace(): void {
    this.rules = true;
  }

  markSubnetFileWritten(written = true): void {
    this.subnetFile = written;
  }

  get ready(): boolean {
    return this.rules && this.subnetFile;
  }
}
