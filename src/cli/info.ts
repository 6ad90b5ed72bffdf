// `still info`: which backends are available on this machine, and why the others are not.
import type { Command } from 'commander';
import { probeBackends } from '../backends/select.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the available compute backends and why the others are not')
    .action(() => {
      console.log(`still-ts on Node ${process.version} (${process.platform}-${process.arch})`);
      for (const a of probeBackends()) {
        console.log(`${a.available ? '✓' : '✗'} ${a.name.padEnd(7)} ${a.detail}`);
      }
    });
}
