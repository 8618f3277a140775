// A real OpenID Connect provider for yunwang's single sign-on tests: the certified `oidc-provider` package
// (npm), on 127.0.0.1 only. One static client (yunwang, client_secret_basic, PKCE S256 required); a few test
// users whose claims carry a role and a unit code. Its built-in development login/consent forms accept any
// password for the users below; nothing here is for production.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT ?? 29460);
const issuer = `http://127.0.0.1:${port}`;

// login → claims. `yunwang_role` is mapped by YUNWANG_OIDC_ROLE_MAP in the tests; `yunwang_unit` is a unit code.
const USERS = {
  alice: { name: '韦丽 Alice Wei', email: 'alice@gx.test', yunwang_role: 'sub-chief', yunwang_unit: 'GX-OIDC-UNIT' },
  bob: { name: '黄波 Bob Huang', email: 'bob@gx.test', yunwang_role: ['staff', 'netops'], yunwang_unit: '' },
  mallory: { name: 'Mallory', email: 'mallory@gx.test', yunwang_role: 'janitor', yunwang_unit: 'GX-OIDC-UNIT' },
};

const configuration = {
  clients: [
    {
      client_id: 'yunwang-test',
      client_secret: 'yunwang-test-client-secret',
      // native: a loopback redirect URI matches on any port (RFC 8252 §7.3), so each test server may pick one
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/auth/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'yunwang_role', 'yunwang_unit'],
    email: ['email'],
  },
  conformIdTokenClaims: false, // the id_token carries the profile claims (yunwang reads role and unit from it)
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['yunwang-test-oidc-cookie-key'] },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  async findAccount(_ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: `sub-${id}`, preferred_username: id, ...user };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
