/** Two projects: fast pure unit tests beside the source, and integration tests against the real
 * broker (started once by globalSetup) and the real Postgres. */
const transform = { '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] };
const moduleNameMapper = { '^(\\.{1,2}/.*)\\.js$': '$1' };
// ESM-only dependencies (content-disposition 3 via @fastify/swagger-ui -> @fastify/static, cookie 2 via light-my-request) load fine
// under Node's require(esm), but jest's module runtime needs them transformed to CommonJS.
const ESM_ONLY = ['content-disposition', 'cookie'];
const transformIgnorePatterns = [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      moduleNameMapper,
      testMatch: [
        '<rootDir>/{pipeline,subscription-api,prisma,schemas,scripts}/**/*.test.ts',
        '<rootDir>/test/unit/**/*.test.ts',
      ],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/', '/dist/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      moduleNameMapper,
      testMatch: ['<rootDir>/test/**/*.int.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/integration-timeout.ts'],
    },
    {
      // Faults, bad input and attacks (test/reliability/README.md). Short profile in `npm test`; the long one with
      // RELIABILITY_PROFILE=long. Each scenario records its figures for RELIABILITY.md.
      displayName: 'reliability',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      moduleNameMapper,
      testMatch: ['<rootDir>/test/reliability/**/*.rel.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/support/integration-timeout.ts'],
    },
  ],
};
