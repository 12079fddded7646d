/**
 * Placeholder so the CDK app can bundle this entry point; it is replaced by the real handler
 * (a middy shell over functions/alert/core.ts) written with the alert function.
 */
export const handler = (_event: unknown): Promise<void> => Promise.resolve();
