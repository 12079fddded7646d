import { describe, expect, it } from 'vitest';
import { buildStages } from './app-fixture.ts';

/** Shapes of real credentials that must never appear in a template or output. */
const SECRET_PATTERNS: ReadonlyArray<[string, RegExp]> = [
  ['AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['Slack webhook', /hooks\.slack\.com\/services\//],
  ['Slack token', /\bxox[abposr]-[0-9A-Za-z-]{10,}/],
  ['inline secret value', /"SecretString"\s*:/],
  ['secret-looking env value', /"(API_?KEY|API_?SECRET|PASSWORD|TOKEN)"\s*:\s*"[^"]{8,}"/i],
];

describe('the synthesized app', () => {
  it('contains no secret-looking values in any template', () => {
    const { app } = buildStages();
    const assembly = app.synth();
    const texts = assembly.nestedAssemblies
      .flatMap((n) => n.nestedAssembly.stacks)
      .map((s) => [s.stackName, JSON.stringify(s.template)] as const);
    expect(texts.length).toBe(10);
    for (const [name, text] of texts) {
      for (const [what, re] of SECRET_PATTERNS) expect(re.test(text), `${what} in ${name}`).toBe(false);
    }
  });
});
