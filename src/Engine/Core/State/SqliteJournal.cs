using System.Data.Common;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace DeploymentRollback.Engine;

/// <summary>The local store's journal: one SQLite file in the state folder.</summary>
public sealed class SqliteJournal : SqlJournal
{
    // SQLite result codes (the low byte of an extended code).
    private const int SqlitePermission = 3;
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteReadOnly = 8;
    private const int SqliteIoError = 10;
    private const int SqliteCorrupt = 11;
    private const int SqliteFull = 13;
    private const int SqliteCantOpen = 14;
    private const int SqliteNotADatabase = 26;
    private const int BusyTimeoutSeconds = 30;

    private readonly string connectionString;
    private readonly string lockRowConnectionString;

    public SqliteJournal(string path)
    {
        Path = path;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Opening a connection costs 1-2 ms (the file, its WAL index, the schema), several times before the first change;
            // pooled connections are reused while this journal lives and closed when it is disposed (ReleaseConnections).
            Pooling = true,
            DefaultTimeout = BusyTimeoutSeconds,
        };
        connectionString = builder.ToString();
        // The lock rows' connections get a pool of their own (Private is SQLite's default cache mode; naming it only makes
        // the connection string, and so the pool, differ), so that their relaxed durability never reaches another write.
        builder.Cache = SqliteCacheMode.Private;
        lockRowConnectionString = builder.ToString();
    }

    public string Path { get; }

    public override string Location => Path;

    protected override void BeforeFirstOpen()
    {
        // Connections pooled by an earlier journal on the same file (an earlier command in this process) may point at a
        // file since moved, replaced or repaired: each journal starts with none.
        ReleaseConnections();
        if (File.Exists(Path) || Directory.Exists(Path))
        {
            // SQLite would wait forever on a FIFO named journal.db, or fail on a device or folder with a raw error.
            try
            {
                AtomicFile.ResolveRegularFile(Path);
            }
            catch (RollbackException e)
            {
                throw new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.InvalidOperation,
                    $"The journal '{Path}' is not a regular file, so it cannot be used. Move it aside (a new journal is created) or pass another -StateDirectory.", e)
                { TargetName = Path };
            }

            // SQLite takes an empty file for a new database: a truncated journal would silently lose the history, and with it
            // an escalation that should stop the next rollback.
            // Another process that creates the journal at this moment leaves it empty for a few milliseconds: only a file
            // that stays empty is one.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (IsEmptyFile() && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }

            if (IsEmptyFile())
            {
                throw Corrupt(new InvalidDataException("the file is empty: truncated, or its creation was interrupted"));
            }
        }
    }

    protected override DbConnection Connect()
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            connection.Open();
            Run(connection, BusyTimeout);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return connection;
    }

    /// <summary>
    /// A write that finds the journal locked by another connection waits inside SQLite, which retries within
    /// milliseconds. Without it Microsoft.Data.Sqlite retries on its own, after a fixed 150 ms sleep each time: two
    /// components of a plan, or two targets of a selection, journaling at the same moment cost one of them 150 ms.
    /// </summary>
    private static readonly string BusyTimeout = $"PRAGMA busy_timeout = {BusyTimeoutSeconds * 1000}";

    /// <summary>
    /// The local store's lock is the lock file's exclusive handle; the row only describes it and numbers its token. So its
    /// commit does not wait for the disk (synchronous = NORMAL, saving an fsync on the way to the first change): a power
    /// loss that drops the row also ends its holder, and every record written under its token is committed later with
    /// the default (FULL), which makes the row durable with it, so a token can only be handed out again when nothing
    /// written under it survived.
    /// </summary>
    protected override DbConnection ConnectForLockRow()
    {
        var connection = new SqliteConnection(lockRowConnectionString);
        try
        {
            connection.Open();
            Run(connection, "PRAGMA synchronous = NORMAL;" + BusyTimeout);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return connection;
    }

    /// <summary>A PRAGMA's value as a pooled connection of the lock rows' pool, or of the other writes', sees it (for tests).</summary>
    internal long PragmaSetting(string pragma, bool lockRows) => Guard(() =>
    {
        using var connection = lockRows ? ConnectForLockRow() : Open();
        using var command = Prepare(connection, "PRAGMA " + pragma, []);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    });

    /// <summary>Closes the pooled connections, so no handle on the journal outlives the command (Windows could not delete it).</summary>
    public void ReleaseConnections()
    {
        SqliteConnection.ClearPool(new SqliteConnection(connectionString));
        SqliteConnection.ClearPool(new SqliteConnection(lockRowConnectionString));
    }

    private bool IsEmptyFile()
    {
        var file = new FileInfo(Path);
        return file.Exists && file.Length == 0;
    }

    /// <summary>
    /// Whether the file holds tables and none of the journal's: another program's database. One that holds some of ours
    /// is a journal another process is creating right now.
    /// </summary>
    private static bool IsForeignDatabase(DbConnection connection)
    {
        using var command = Prepare(connection,
            "SELECT COUNT(*) > 0 AND COUNT(*) = SUM(name NOT IN ('meta', 'attempts', 'events', 'verified', 'locks')) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", []);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    protected override bool HasTable(DbConnection connection, string table)
    {
        using var command = Prepare(connection, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = @name", [("@name", table)]);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    protected override void CreateOrUpgrade(DbConnection connection, int foundVersion)
    {
        if (foundVersion == 0 && IsForeignDatabase(connection))
        {
            // Another program's database under our name: adding our tables to it would hide that the history is gone.
            throw Corrupt(new InvalidDataException("it holds tables of another program and none of the journal's"));
        }

        Run(connection, "PRAGMA journal_mode = WAL;" + Tables("INTEGER PRIMARY KEY AUTOINCREMENT"));
        // Journals made by an earlier version lack later columns; they are added in place, nothing is lost.
        AddColumnIfMissing(connection, "verified", "snapshot", "TEXT");
        AddColumnIfMissing(connection, "attempts", "owner", "TEXT");
        AddColumnIfMissing(connection, "attempts", "fencing_token", "BIGINT");
        AddColumnIfMissing(connection, "verified", "fencing_token", "BIGINT");
        AddColumnIfMissing(connection, "events", "fencing_token", "BIGINT");
    }

    private static void AddColumnIfMissing(DbConnection connection, string table, string column, string type)
    {
        using var check = Prepare(connection, $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'", []);
        if (Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            Run(connection, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
        }
    }

    /// <summary>Every journal access goes through here, so that no SQLite, I/O or parse error reaches the user raw.</summary>
    protected override T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (SqliteException e)
        {
            throw Fault(e);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidCastException or InvalidOperationException)
        {
            throw Corrupt(e);
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(Path, "use the journal", e);
        }
    }

    private RollbackException Fault(SqliteException e) => (e.SqliteErrorCode & 0xFF) switch
    {
        SqliteFull => StateFaults.DiskFull(Path, "write the journal", e),
        SqliteIoError or SqliteCantOpen when StateFaults.IsOutOfSpace(Path) => StateFaults.DiskFull(Path, "write the journal", e),
        SqliteReadOnly or SqlitePermission => StateFaults.ReadOnly(Path, "write the journal", e),
        SqliteCantOpen when !Writable() => StateFaults.ReadOnly(Path, "open the journal", e),
        SqliteCorrupt or SqliteNotADatabase => Corrupt(e),
        SqliteBusy or SqliteLocked => new RollbackException(ErrorIds.JournalBusy, RollbackErrorKind.ResourceBusy,
            $"The journal '{Path}' stayed locked by another process for longer than {BusyTimeoutSeconds} s ({e.Message}). Try again when the other command has finished.", e),
        _ => new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.WriteError,
            $"The journal '{Path}' could not be used ({e.Message}). Check that the state folder is readable and writable and its disk healthy, or pass -StateDirectory with another folder.", e),
    };

    private RollbackException Corrupt(Exception e) => new(ErrorIds.JournalCorrupt, RollbackErrorKind.InvalidOperation,
        $"The journal '{Path}' is damaged or is not a journal of this module ({e.Message}). Restore it from a backup, or move it aside to start a new, empty one (the rollback history and verified versions in it are then no longer used).", e);

    /// <summary>SQLite says "cannot open" for a missing and an unwritable folder alike: tell them apart by asking the file system.</summary>
    private bool Writable()
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        var probe = System.IO.Path.Combine(directory, $".write-test-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe))
            {
            }

            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            // A missing folder is not a read-only one: that is reported as the file being unusable.
            return !StateFaults.IsReadOnly(e);
        }
    }
}
