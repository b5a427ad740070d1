// A TOKEN authorizer written the way the public Node samples write one: jsonwebtoken +
// jwks-rsa, the key picked by kid, audience and issuer checked, no algorithm list, the error
// logged. What authprobe finds in it, and which of it is true: docs/REAL-AUTHORIZERS.md.
//
//   npm install   (aws-lambda-ric builds native code: cmake autoconf automake libtool g++)
//   authprobe conform --target 'lambda:node_modules/.bin/aws-lambda-ric index.handler' \
//     --env JWKS_URI={jwks_url} --env TOKEN_ISSUER={issuer} --env AUDIENCE={audience}
const jwt = require('jsonwebtoken');
const jwksRsa = require('jwks-rsa');

const keys = jwksRsa({
  jwksUri: process.env.JWKS_URI,
  cache: true,
  rateLimit: true,
  jwksRequestsPerMinute: 10,
});

function policy(effect, resource) {
  return {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
  };
}

function tokenOf(event) {
  if (!event.type || event.type !== 'TOKEN') throw new Error('Expected "event.type" to be "TOKEN"');
  const m = (event.authorizationToken || '').match(/^Bearer (.*)$/);
  if (!m) throw new Error(`Invalid Authorization token - ${event.authorizationToken} does not match "Bearer .*"`);
  return m[1];
}

exports.handler = async (event) => {
  try {
    const token = tokenOf(event);
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || !decoded.header || !decoded.header.kid) throw new Error('invalid token');
    const key = await keys.getSigningKey(decoded.header.kid);
    const claims = jwt.verify(token, key.getPublicKey(), {
      audience: process.env.AUDIENCE,
      issuer: process.env.TOKEN_ISSUER,
    });
    return { principalId: claims.sub, policyDocument: policy('Allow', event.methodArn), context: { scope: claims.scope || '' } };
  } catch (err) {
    console.log(err.message);
    throw new Error('Unauthorized');
  }
};
