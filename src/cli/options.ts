import { Option } from 'commander';

/** A flag that may be given many times (`-e A=1 -e B=2`); absent means none. */
export function repeatable(flags: string, description: string): Option {
  return new Option(flags, `${description} (repeatable)`).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}
