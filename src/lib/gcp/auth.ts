/**
 * Credentials for emulators and test doubles: a custom endpoint takes no real credentials, and this client
 * keeps the Google libraries from looking for Application Default Credentials (and probing the metadata
 * server) at all. Real endpoints always use Application Default Credentials.
 */
export function emulatorAuthClient(): {getRequestHeaders: () => Promise<Headers>; getCredentials: () => Promise<object>} {
  return {
    getRequestHeaders: async () => new Headers({authorization: 'Bearer emulator'}),
    getCredentials: async () => ({}),
  }
}
