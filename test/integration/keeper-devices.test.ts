// The kit's keeper over two devices, as a dual-stack userspace backend keeps flannel.<VNI> and flannel-v6.<VNI>:
// each deleted by hand is made again (the second one too, not only the first), only the one that went, and a check
// runs on once both are back. Bridge devices in a namespace of their own; nothing touches the root namespace.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { JsonLines, labUnavailable, NsLab, ipIn } from '../support/nl-lab.js';

const skip = labUnavailable();
let lab: NsLab;
let ns: string;

interface Line { ready?: boolean; recreated?: string; resync?: number }

before(async () => {
  if (skip) return;
  lab = await NsLab.create();
  ns = await lab.netns('keep');
});

after(async () => {
  await lab?.destroy();
});

test('keeper: each of two kept devices deleted by hand is made again, and only that one', { skip: skip ?? false }, async () => {
  const [v4, v6] = [lab.dev('kpa'), lab.dev('kpb')];
  const lines = new JsonLines<Line>(lab.spawnHelper(ns, 'keeper-run', [`${v4},${v6}`]));
  await lines.waitFor((l) => l.ready === true, 'keeper helper ready');

  await ipIn(ns, 'link', 'del', v6);
  await lines.waitFor((l) => l.recreated === v6, `${v6} made again`);
  await ipIn(ns, 'link', 'del', v4);
  await lines.waitFor((l) => l.recreated === v4, `${v4} made again`);
  assert.deepEqual(lines.lines.filter((l) => l.recreated !== undefined).map((l) => l.recreated), [v6, v4],
    'each deletion re-made its own device, once');
  for (const d of [v4, v6]) assert.match(await ipIn(ns, 'link', 'show', d), new RegExp(d));
});
