// Integration and reliability tests wait on real processes, a real broker and Postgres: 2 minutes per test unless a
// file sets its own. (jest's `testTimeout` is a global option and is ignored inside `projects`, so it is set here.)
jest.setTimeout(120_000);
