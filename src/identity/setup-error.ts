// Raised by createAuthenticator() when a file the auth config names cannot be
// used (missing, unreadable, malformed). Start-up fails with this message.
export class AuthSetupError extends Error {
  override name = 'AuthSetupError';
  constructor(
    /** The file at fault. */
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
  }
}
