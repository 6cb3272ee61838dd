// Every limit of the engine, in one place. Each is documented in docs/operations.md
// ("Limits") and asserted where it is used.
/// The engine's limits (docs/operations.md, "Limits").
public enum Limits {
    /// Events in one client batch (as TigerBeetle: fits its message size).
    public static let batchEventsMax = 8_189
    /// Hold expiries the engine puts ahead of one client batch; more due holds
    /// wait for the next batch (their post/void already answers pendingExpired).
    public static let expiriesPerBatchMax = 1_024
    /// Encoded bytes of one client batch. Caps the worst case (8,189 entries of
    /// 128 postings and 1 KiB metadata would be 50 MiB) so one group record
    /// always fits a WAL file.
    public static let batchBytesMax = 4 * 1024 * 1024
    /// Postings in one entry.
    public static let entryPostingsMax = 128
    /// Postings in a `posted` or `pending` entry, at least.
    public static let entryPostingsMin = 2
    /// Opaque metadata bytes on one entry.
    public static let entryMetadataBytesMax = 1_024
    /// Accounts in one data directory (bounds the balance index file: 2^24
    /// slots of 128 bytes is 2 GiB).
    public static let accountsMax = 1 << 24
    /// Client batches waiting for the WAL writer. Submitters beyond this get
    /// `LedgerError.queueFull` instead of unbounded memory growth.
    public static let commitQueueBatchesMax = 65_536
    /// Bytes in one group-commit record's payload. The writer stops adding
    /// batches to a group at this size (a single batch is at most
    /// `batchBytesMax`, so progress is always possible).
    public static let groupPayloadBytesMax = 16 * 1024 * 1024
    /// Default size of one WAL file (preallocated with zeros).
    public static let walFileBytesDefault = 64 * 1024 * 1024
    /// Smallest WAL file size accepted (tests use small files to exercise rolls).
    public static let walFileBytesMin = 64 * 1024
    /// Largest WAL file size accepted (`ledgerctl init --wal-file-mib 1024`).
    public static let walFileBytesMax = 1024 * 1024 * 1024
    /// WAL files compaction keeps for reuse instead of deleting them
    /// (`wal-spare-<n>.tmp`; the next WAL file is prepared in one, whose
    /// pages the page cache already holds). Their disk space comes on top of
    /// the WAL's bound (docs/operations.md).
    public static let walSpareFilesMax = 4
    /// Months `verify` checks at once (each holds its month's index in
    /// memory while it is checked; the default is one per core up to this).
    public static let verifyMonthsInParallelMax = 4
    /// Groups applied between two balance-index checkpoints.
    public static let indexCheckpointGroupsDefault = 256
}
