import { describe, expect, it } from 'vitest';
import { applyChanges, parseChange, parseKeyValues, processWord } from '../../src/store/changes.js';

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

  it('replaces variables from the environment so far, as docker\'s builder does, but not in single quotes or CMD', () => {
    const c = applyChanges({ Env: ['PATH=/usr/bin:/bin', 'HOME=/root', 'EMPTY='] }, [
      parseChange('ENV PATH=/opt/bin:$PATH'),
      parseChange('ENV A=1'),
      parseChange('ENV A=2 B=$A C=${A}x'),
      parseChange("ENV D='$HOME' E=\"$HOME/x\" F=\\$HOME G=${EMPTY:-dflt} H=${HOME:+set} I=${NOPE}"),
      parseChange('WORKDIR $HOME/app'),
      parseChange('LABEL home=$HOME'),
      parseChange('USER ${B}000'),
      parseChange('VOLUME $HOME/data /x'),
      parseChange('CMD echo $HOME'),
    ]);
    expect(c.Env).toEqual(['PATH=/opt/bin:/usr/bin:/bin', 'HOME=/root', 'EMPTY=', 'A=2', 'B=1', 'C=1x', 'D=$HOME', 'E=/root/x', 'F=$HOME', 'G=dflt', 'H=set', 'I=']);
    expect(c.WorkingDir).toBe('/root/app');
    expect(c.Labels).toEqual({ home: '/root' });
    expect(c.User).toBe('1000');
    expect(c.Volumes).toEqual({ '/root/data': {}, '/x': {} });
    expect(c.Cmd).toEqual(['/bin/sh', '-c', 'echo $HOME']);
    expect(processWord('a\\ b"c\\"d"$X', new Map([['X', 'x']]))).toBe('a bc"dx');
    // In double quotes a backslash before anything but \\, " and $ stays, once, with what follows it once.
    expect(processWord('"C:\\temp"', new Map())).toBe('C:\\temp');
    expect(processWord('"\\d+\\$X"', new Map([['X', 'x']]))).toBe('\\d+$X');
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
