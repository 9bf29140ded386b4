// Placeholder for the `chord` command line (inspect, tokenize, run, bench).
// The real CLI replaces this file; keep its shape: export `main(argv)` returning
// the exit code, and do not run on import (bin/chord.mjs calls main).

const USAGE = `Usage: chord <command> [options]

Commands:
  inspect MODEL [--json]                        metadata, tensors, hyper-parameters
  tokenize --model MODEL --input-jsonl FILE     one {"ids": [...]} line per {"text": ...} line
  run --model MODEL --prompt TEXT [--json]      generate text
  bench --model MODEL [--json]                  load, prefill and decode speed

(placeholder: the commands arrive with the CLI issue)`;

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  console.error(`chord: unknown command '${command}'\n\n${USAGE}`);
  return 1;
}
