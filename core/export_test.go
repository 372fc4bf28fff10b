package core

// Internals the external tests (package core_test) check against.
const InitialBodyBuffer = initialBodyBuffer
