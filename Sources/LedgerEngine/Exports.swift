// The engine re-exports the shared model: `import LedgerEngine` keeps
// giving accounts, entries, events, results, limits and errors.
@_exported import LedgerModel
