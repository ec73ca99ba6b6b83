/** The token of an `Authorization: Bearer <token>` header, or undefined for any other header. */
export function bearerToken(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

/** The 401 body every service answers with, naming the variable that lists its tokens. */
export function unauthorized(tokensVariable: string): { error: 'unauthorized'; message: string } {
  return { error: 'unauthorized', message: `Authorization: expected "Bearer <token>" with a token from ${tokensVariable}` };
}
