/**
 * Placeholder so the CDK app can bundle this entry point; it is replaced by the real handler
 * (a middy shell over functions/reconcile/core.ts) written with the reconcile function.
 */
export const handler = (_event: unknown): Promise<void> => Promise.resolve();
