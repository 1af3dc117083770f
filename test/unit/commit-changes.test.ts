import { describe, expect, it } from 'vitest';
import { applyChanges, parseChange, parseKeyValues } from '../../src/store/changes.js';

describe('commit -c changes', () => {
  it('parses instructions case-insensitively and refuses the ones docker refuses', () => {
    expect(parseChange('cmd ["a"]')).toEqual({ instruction: 'CMD', rest: '["a"]' });
    expect(() => parseChange('RUN echo')).toThrow(/not a valid change/);
    expect(() => parseChange('ENV')).toThrow(/requires an argument/);
  });

  it('takes CMD and ENTRYPOINT in exec form or shell form', () => {
    const c = applyChanges({}, [parseChange('CMD ["cat","/x"]'), parseChange('ENTRYPOINT echo hi')]);
    expect(c.Cmd).toEqual(['cat', '/x']);
    expect(c.Entrypoint).toEqual(['/bin/sh', '-c', 'echo hi']);
  });

  it('sets ENV (replacing a key), LABEL, EXPOSE, WORKDIR, USER and STOPSIGNAL', () => {
    const c = applyChanges({ Env: ['PATH=/bin', 'A=0'], WorkingDir: '/app' }, [
      parseChange('ENV A=1 B="two words"'),
      parseChange('ENV C legacy value'),
      parseChange('LABEL k=v'),
      parseChange('EXPOSE 80 53/UDP'),
      parseChange('WORKDIR sub'),
      parseChange('USER 1000:1000'),
      parseChange('STOPSIGNAL SIGINT'),
    ]);
    expect(c.Env).toEqual(['PATH=/bin', 'A=1', 'B=two words', 'C=legacy value']);
    expect(c.Labels).toEqual({ k: 'v' });
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {} });
    expect(c.WorkingDir).toBe('/app/sub');
    expect(c.User).toBe('1000:1000');
    expect(c.StopSignal).toBe('SIGINT');
  });

  it('never modifies the config it is given', () => {
    const env = ['A=0'];
    applyChanges({ Env: env }, [parseChange('ENV A=1')]);
    expect(env).toEqual(['A=0']);
    expect(parseKeyValues("a='x y' b=z", 'LABEL')).toEqual([
      ['a', 'x y'],
      ['b', 'z'],
    ]);
  });
});
