import { describe, expect, it } from 'vitest';
import { commandLine, type WindowsServiceSpec, windowsInstallPlan, winswXml } from '../src/service/index.ts';
import { escapeXml, winArg, windowsUninstallPlan } from '../src/service/windows.ts';

const spec: WindowsServiceSpec = {
  name: 'dayi-agent-lab3-pc7',
  agentId: 'lab3-pc7',
  nodePath: 'C:\\Program Files\\dayi\\node_modules\\node\\bin\\node.exe',
  nodeFlags: ['--lite-mode'],
  entry: ['C:\\Program Files\\dayi\\agent\\dist\\dayi-agent.mjs'],
  configFile: 'C:\\dayi\\agent.yaml',
  workingDirectory: 'C:\\dayi',
  serviceDir: 'C:\\ProgramData\\dayi',
};

const GOLDEN = [
  '<!-- dayi edge agent, written by `dayi agent install`. WinSW reads this file as <id>.xml beside <id>.exe. -->',
  '<service>',
  '  <id>dayi-agent-lab3-pc7</id>',
  '  <name>dayi agent lab3-pc7</name>',
  '  <description>dayi edge agent lab3-pc7: reads instrument power and publishes its state over MQTT. Config: C:\\dayi\\agent.yaml</description>',
  '  <executable>C:\\Program Files\\dayi\\node_modules\\node\\bin\\node.exe</executable>',
  '  <arguments>--lite-mode &quot;C:\\Program Files\\dayi\\agent\\dist\\dayi-agent.mjs&quot; -c C:\\dayi\\agent.yaml</arguments>',
  '  <workingdirectory>C:\\dayi</workingdirectory>',
  '  <startmode>Automatic</startmode>',
  '  <delayedAutoStart>true</delayedAutoStart>',
  '  <env name="NODE_ENV" value="production"/>',
  '  <env name="MALLOC_TRIM_THRESHOLD_" value="0"/>',
  '  <env name="MALLOC_MMAP_THRESHOLD_" value="32768"/>',
  '  <onfailure action="restart" delay="5 sec"/>',
  '  <resetfailure>1 hour</resetfailure>',
  '  <stoptimeout>30 sec</stoptimeout>',
  '  <logpath>C:\\ProgramData\\dayi\\logs</logpath>',
  '  <log mode="roll-by-size">',
  '    <sizeThreshold>10240</sizeThreshold>',
  '    <keepFiles>8</keepFiles>',
  '  </log>',
  '</service>',
  '',
].join('\r\n');

describe('Windows service (WinSW)', () => {
  it('matches the golden WinSW XML, with CRLF line ends', () => {
    expect(winswXml(spec)).toBe(GOLDEN);
  });

  it('escapes XML and quotes Windows arguments', () => {
    expect(escapeXml(`a&b<c>"d"'e'`)).toBe('a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;');
    expect(winArg('C:\\dayi\\agent.yaml')).toBe('C:\\dayi\\agent.yaml');
    expect(winArg('C:\\my lab\\agent.yaml')).toBe('"C:\\my lab\\agent.yaml"');
    // A trailing backslash before the closing quote is doubled, or it would escape the quote.
    expect(winArg('C:\\my lab\\')).toBe('"C:\\my lab\\\\"');
    expect(winArg('say "hi"')).toBe('"say \\"hi\\""');
    const xml = winswXml({ ...spec, configFile: 'C:\\R&D lab\\agent.yaml' });
    expect(xml).toContain('-c &quot;C:\\R&amp;D lab\\agent.yaml&quot;</arguments>');
  });

  it('registers the wrapper with sc.exe, auto start and restart on failure', () => {
    const plan = windowsInstallPlan(spec, { winswExe: 'D:\\downloads\\WinSW-x64.exe', sc: true });
    expect(plan.map((a) => (a.kind === 'run' ? commandLine(a.command, a.args) : `${a.kind}`))).toEqual([
      'mkdir',
      'copy',
      'write',
      `sc.exe create dayi-agent-lab3-pc7 binPath= C:\\ProgramData\\dayi\\dayi-agent-lab3-pc7.exe start= delayed-auto DisplayName= 'dayi agent lab3-pc7'`,
      `sc.exe description dayi-agent-lab3-pc7 'dayi edge agent lab3-pc7 (C:\\dayi\\agent.yaml)'`,
      'sc.exe failure dayi-agent-lab3-pc7 reset= 86400 actions= restart/5000/restart/5000/restart/30000',
      'sc.exe start dayi-agent-lab3-pc7',
    ]);
    expect(plan[1]).toEqual({
      kind: 'copy',
      from: 'D:\\downloads\\WinSW-x64.exe',
      to: 'C:\\ProgramData\\dayi\\dayi-agent-lab3-pc7.exe',
    });
    expect(plan[2]).toMatchObject({ kind: 'write', path: 'C:\\ProgramData\\dayi\\dayi-agent-lab3-pc7.xml' });
    // A wrapper path with spaces is quoted inside binPath, as the SCM needs.
    const spaced = windowsInstallPlan({ ...spec, serviceDir: 'C:\\Program Files\\dayi' }, { sc: true });
    const create = spaced.find((a) => a.kind === 'run' && a.args[0] === 'create');
    expect(create?.kind === 'run' && create.args[3]).toBe(
      '"C:\\Program Files\\dayi\\dayi-agent-lab3-pc7.exe"',
    );
    expect(windowsInstallPlan(spec, { sc: false }).some((a) => a.kind === 'run')).toBe(false);
  });

  it('stops, deletes and removes the files on uninstall', () => {
    const plan = windowsUninstallPlan(
      { name: 'dayi-agent-lab3-pc7', serviceDir: 'C:\\ProgramData\\dayi' },
      { sc: true },
    );
    expect(plan).toEqual([
      { kind: 'run', command: 'sc.exe', args: ['stop', 'dayi-agent-lab3-pc7'], okExitCodes: [1060, 1062] },
      { kind: 'run', command: 'sc.exe', args: ['delete', 'dayi-agent-lab3-pc7'], okExitCodes: [1060] },
      { kind: 'remove', path: 'C:\\ProgramData\\dayi\\dayi-agent-lab3-pc7.xml' },
      { kind: 'remove', path: 'C:\\ProgramData\\dayi\\dayi-agent-lab3-pc7.exe' },
    ]);
  });
});
