using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace DeploymentRollback.Engine;

/// <summary>Kinds of event the journal keeps besides attempts; the checklist is ticked from them.</summary>
public static class JournalEventKinds
{
    public const string Assessed = "Assessed";
    public const string CheckpointCreated = "CheckpointCreated";
    public const string SignalEmitted = "SignalEmitted";
    public const string HealthChecked = "HealthChecked";
    public const string ReportWritten = "ReportWritten";
}

public sealed record JournalEvent(string TargetKey, string? AttemptId, DateTimeOffset At, string Kind, string Detail);

/// <summary>
/// The SQLite journal: every rollback attempt (with its full result), every version recorded
/// verified-good per target, and the events that prove checklist items.
/// </summary>
public sealed class Journal
{
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter(), new DeploymentTargetConverter() },
    };

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
    private bool initialised;

    public Journal(string path)
    {
        Path = path;
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
    }

    public string Path { get; }

    public void StartAttempt(RollbackResult attempt)
    {
        Execute(
            "INSERT INTO attempts(id, target_key, strategy, started_at, outcome, attempt_number, from_version, to_version, result_json) VALUES ($id, $target, $strategy, $started, 'Running', $number, $from, $to, $json)",
            ("$id", attempt.AttemptId), ("$target", attempt.TargetKey), ("$strategy", attempt.Strategy), ("$started", Stamp(attempt.StartedAt)),
            ("$number", attempt.AttemptNumber), ("$from", attempt.FromVersion), ("$to", attempt.ToVersion), ("$json", JsonSerializer.Serialize(attempt, JsonOptions)));
    }

    public void CompleteAttempt(RollbackResult attempt)
    {
        Execute(
            "UPDATE attempts SET completed_at = $completed, outcome = $outcome, from_version = $from, to_version = $to, result_json = $json WHERE id = $id",
            ("$id", attempt.AttemptId), ("$completed", Stamp(attempt.CompletedAt)), ("$outcome", attempt.Outcome.ToString()),
            ("$from", attempt.FromVersion), ("$to", attempt.ToVersion), ("$json", JsonSerializer.Serialize(attempt, JsonOptions)));
    }

    /// <summary>Attempts, newest first; an attempt whose process died mid-way stays 'Running' and is returned as Failed.</summary>
    public IReadOnlyList<RollbackResult> GetAttempts(string? targetKey = null, string? attemptId = null, DateTimeOffset? since = null, int limit = 1000)
    {
        var sql = "SELECT result_json, outcome FROM attempts WHERE ($target IS NULL OR target_key = $target) AND ($id IS NULL OR id = $id) AND ($since IS NULL OR started_at >= $since) ORDER BY started_at DESC LIMIT $limit";
        return Query(sql, reader =>
        {
            var result = JsonSerializer.Deserialize<RollbackResult>(reader.GetString(0), JsonOptions) ?? throw new JsonException("An attempt row holds no result.");
            if (reader.GetString(1) == "Running")
            {
                result.Outcome = RollbackOutcome.Failed;
                result.Message ??= "The attempt did not finish (its process ended or is still running).";
            }

            return result;
        }, ("$target", targetKey), ("$id", attemptId), ("$since", since is null ? null : Stamp(since.Value)), ("$limit", limit));
    }

    /// <summary>
    /// The version the target's newest attempt left it at, when that attempt succeeded or had nothing to do: running
    /// the same rollback again must find it there and skip, not go further back.
    /// </summary>
    public string? LastRollbackTarget(string targetKey) =>
        GetAttempts(targetKey, limit: 1).FirstOrDefault(a => a.Outcome is RollbackOutcome.Succeeded or RollbackOutcome.Skipped)?.ToVersion;

    public void RecordVerified(VerifiedVersion verified)
    {
        Execute(
            "INSERT INTO verified(target_key, strategy, version, commit_id, recorded_at, evidence, snapshot) VALUES ($target, $strategy, $version, $commit, $at, $evidence, $snapshot)",
            ("$target", verified.TargetKey), ("$strategy", verified.Strategy), ("$version", verified.Version), ("$commit", verified.Commit),
            ("$at", Stamp(verified.RecordedAt)), ("$evidence", verified.Evidence), ("$snapshot", verified.Snapshot));
    }

    /// <summary>Verified-good versions, newest first.</summary>
    public IReadOnlyList<VerifiedVersion> GetVerified(string? targetKey = null, int limit = 1000) =>
        Query("SELECT target_key, strategy, version, commit_id, recorded_at, evidence, snapshot FROM verified WHERE ($target IS NULL OR target_key = $target) ORDER BY recorded_at DESC, id DESC LIMIT $limit",
            reader => new VerifiedVersion
            {
                TargetKey = reader.GetString(0),
                Strategy = reader.GetString(1),
                Version = reader.GetString(2),
                Commit = reader.IsDBNull(3) ? null : reader.GetString(3),
                RecordedAt = Parse(reader.GetString(4)),
                Evidence = reader.GetString(5),
                Snapshot = reader.IsDBNull(6) ? null : reader.GetString(6),
            }, ("$target", targetKey), ("$limit", limit));

    public void AddEvent(JournalEvent journalEvent) =>
        Execute("INSERT INTO events(target_key, attempt_id, at, kind, detail) VALUES ($target, $attempt, $at, $kind, $detail)",
            ("$target", journalEvent.TargetKey), ("$attempt", journalEvent.AttemptId), ("$at", Stamp(journalEvent.At)), ("$kind", journalEvent.Kind), ("$detail", journalEvent.Detail));

    public IReadOnlyList<JournalEvent> GetEvents(string targetKey, DateTimeOffset? since = null) =>
        Query("SELECT target_key, attempt_id, at, kind, detail FROM events WHERE target_key = $target AND ($since IS NULL OR at >= $since) ORDER BY at, id",
            reader => new JournalEvent(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), Parse(reader.GetString(2)), reader.GetString(3), reader.GetString(4)),
            ("$target", targetKey), ("$since", since is null ? null : Stamp(since.Value)));

    /// <summary>Stored as round-trip UTC text, so text order is time order.</summary>
    internal static string Stamp(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset Parse(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    private SqliteConnection Open()
    {
        if (!initialised && (File.Exists(Path) || Directory.Exists(Path)))
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
        }

        var connection = new SqliteConnection(connectionString);
        connection.Open();
        if (!initialised)
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS attempts(
                    id TEXT PRIMARY KEY, target_key TEXT NOT NULL, strategy TEXT NOT NULL, started_at TEXT NOT NULL,
                    completed_at TEXT, outcome TEXT NOT NULL, attempt_number INTEGER NOT NULL,
                    from_version TEXT, to_version TEXT, result_json TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS attempts_by_target ON attempts(target_key, started_at);
                CREATE TABLE IF NOT EXISTS verified(
                    id INTEGER PRIMARY KEY AUTOINCREMENT, target_key TEXT NOT NULL, strategy TEXT NOT NULL, version TEXT NOT NULL,
                    commit_id TEXT, recorded_at TEXT NOT NULL, evidence TEXT NOT NULL, snapshot TEXT);
                CREATE INDEX IF NOT EXISTS verified_by_target ON verified(target_key, recorded_at);
                CREATE TABLE IF NOT EXISTS events(
                    id INTEGER PRIMARY KEY AUTOINCREMENT, target_key TEXT NOT NULL, attempt_id TEXT, at TEXT NOT NULL,
                    kind TEXT NOT NULL, detail TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS events_by_target ON events(target_key, at);
                """;
            command.ExecuteNonQuery();
            AddColumnIfMissing(connection, "verified", "snapshot", "TEXT");
            initialised = true;
        }

        return connection;
    }

    /// <summary>Journals made by an earlier version lack later columns; they are added in place, nothing is lost.</summary>
    private static void AddColumnIfMissing(SqliteConnection connection, string table, string column, string type)
    {
        using var check = connection.CreateCommand();
        check.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
        if (Convert.ToInt64(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            using var alter = connection.CreateCommand();
            alter.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {type}";
            alter.ExecuteNonQuery();
        }
    }

    private void Execute(string sql, params (string Name, object? Value)[] parameters) => Guard(() =>
    {
        using var connection = Open();
        using var command = Prepare(connection, sql, parameters);
        return command.ExecuteNonQuery();
    });

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params (string Name, object? Value)[] parameters) => Guard(() =>
    {
        using var connection = Open();
        using var command = Prepare(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(map(reader));
        }

        return rows;
    });

    /// <summary>Every journal access goes through here, so that no SQLite, I/O or parse error reaches the user raw.</summary>
    private T Guard<T>(Func<T> work)
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

    private static SqliteCommand Prepare(SqliteConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>
    /// The versions the target's attempts set out to leave (a no-op, where from and to are the same, leaves nothing):
    /// a version once rolled back from is never a default target again.
    /// </summary>
    public IReadOnlyList<string> GetRolledBackFromVersions(string targetKey) =>
        Query("SELECT DISTINCT from_version FROM attempts WHERE target_key = $target AND outcome <> 'Skipped' AND from_version IS NOT NULL AND (to_version IS NULL OR from_version <> to_version)",
            reader => reader.GetString(0), ("$target", targetKey));

    /// <summary>Which process runs an attempt, so a later run can tell an attempt whose process died from one still running.</summary>
    public void SetAttemptOwner(string attemptId, string owner)
    {
        AddOwnerColumn();
        Execute("UPDATE attempts SET owner = $owner WHERE id = $id", ("$id", attemptId), ("$owner", owner));
    }

    /// <summary>The target's attempts still recorded as running, oldest first, with the process that ran them (null when unknown).</summary>
    public IReadOnlyList<(RollbackResult Attempt, string? Owner)> GetRunningAttempts(string targetKey)
    {
        AddOwnerColumn();
        return Query("SELECT result_json, owner FROM attempts WHERE target_key = $target AND outcome = 'Running' ORDER BY started_at",
            reader => (JsonSerializer.Deserialize<RollbackResult>(reader.GetString(0), JsonOptions)!, reader.IsDBNull(1) ? null : reader.GetString(1)),
            ("$target", targetKey));
    }

    private void AddOwnerColumn()
    {
        using var connection = Open();
        AddColumnIfMissing(connection, "attempts", "owner", "TEXT");
    }
}
