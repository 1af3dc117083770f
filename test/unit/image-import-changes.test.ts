import { describe, expect, it } from 'vitest';
import { applyChanges, parseChange } from '../../src/store/changes.js';

/** `import --change` and `commit -c` share one parser (src/store/changes.ts). */
const apply = (changes: string[]) => applyChanges({}, changes.map(parseChange));

describe('import --change', () => {
  it('applies CMD, ENTRYPOINT (exec and shell form), ENV, LABEL, USER, WORKDIR, STOPSIGNAL', () => {
    expect(
      apply([
        'CMD ["sh"]',
        'ENTRYPOINT /bin/run --flag',
        'ENV A=1 B="two words"',
        'env LEGACY value with spaces',
        'ENV A=3',
        'LABEL maintainer=me',
        'USER 1000:1000',
        'WORKDIR /srv',
        'STOPSIGNAL SIGINT',
      ]),
    ).toMatchObject({
      Cmd: ['sh'],
      Entrypoint: ['/bin/sh', '-c', '/bin/run --flag'],
      Labels: { maintainer: 'me' },
      User: '1000:1000',
      WorkingDir: '/srv',
      StopSignal: 'SIGINT',
    });
    expect(apply(['ENV A=1 B="two words"', 'env LEGACY value with spaces', 'ENV A=3']).Env).toEqual(['A=3', 'B=two words', 'LEGACY=value with spaces']);
    expect(apply([])).toEqual({});
  });

  it('refuses what it cannot apply, in one line', () => {
    expect(() => apply(['RUN echo hi'])).toThrow(/RUN is not a valid change command/);
    expect(() => apply(['CMD'])).toThrow(/requires an argument/);
    expect(() => apply(['ENV =x'])).toThrow(/KEY=VALUE/);
  });
});
