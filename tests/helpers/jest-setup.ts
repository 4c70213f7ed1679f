// app.inject() goes through light-my-request, which requires the ESM-only `cookie` 2: jest's module sandbox cannot load
// it, Node's own require (>= 20.19) can. getBuiltinModule reaches Node's loader past jest's. Every test file gets it.
jest.mock('cookie', () =>
  process.getBuiltinModule('node:module').createRequire(require.resolve('light-my-request'))('cookie'),
);
