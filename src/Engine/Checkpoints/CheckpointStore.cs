using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>Collects a checkpoint's artefacts; every text passes through the secret redactor before it is written.</summary>
public sealed class CheckpointWriter
{
    private readonly List<string> artefacts = new();

    internal CheckpointWriter(string folder)
    {
        Folder = folder;
    }

    public string Folder { get; }
    public IReadOnlyList<string> Artefacts => artefacts;
    public Dictionary<string, string> Details { get; } = new(StringComparer.Ordinal);

    /// <summary>A byte-for-byte copy (e.g. a SQLite database): the state itself, kept so it can be restored.</summary>
    public void AddFileCopy(string relativePath, string source)
    {
        var destination = System.IO.Path.Combine(Folder, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
        File.Copy(source, destination, overwrite: false);
        artefacts.Add(relativePath.Replace('\\', '/'));
    }

    /// <summary>Lists a file a tool wrote into the folder itself (e.g. a pg_dump).</summary>
    public void AddExisting(string relativePath) => artefacts.Add(relativePath.Replace('\\', '/'));

    public void AddText(string relativePath, string content)
    {
        AtomicFile.WriteAllText(System.IO.Path.Combine(Folder, relativePath), SecretRedactor.Redact(content));
        artefacts.Add(relativePath.Replace('\\', '/'));
    }
}

/// <summary>checkpoints/&lt;name&gt;/: a manifest.json plus the artefacts a strategy captured.</summary>
public sealed partial class CheckpointStore
{
    private const string ManifestFile = "manifest.json";
    private static readonly JsonSerializerOptions ManifestJson = new(Journal.JsonOptions) { WriteIndented = true };
    private readonly StateRoot state;

    private static readonly object Reservation = new();

    public CheckpointStore(StateRoot state)
    {
        this.state = state;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex ValidName();

    /// <summary>The spec's default name: pre-rollback-&lt;unix seconds&gt;, made unique if taken.</summary>
    public string NewName(string? requested)
    {
        if (requested is not null)
        {
            if (!ValidName().IsMatch(requested) || requested.Contains(".."))
            {
                throw new RollbackException(ErrorIds.CheckpointNameInvalid, RollbackErrorKind.InvalidArgument,
                    $"'{requested}' cannot be a checkpoint name. Use letters, digits, '.', '_' and '-' (at most 128), starting with a letter or digit.");
            }

            if (Directory.Exists(System.IO.Path.Combine(state.CheckpointsDirectory, requested)))
            {
                throw new RollbackException(ErrorIds.CheckpointExists, RollbackErrorKind.InvalidArgument,
                    $"A checkpoint named '{requested}' already exists in {state.CheckpointsDirectory}. Choose another -Name; checkpoints are never overwritten.");
            }

            return requested;
        }

        var name = $"pre-rollback-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}";
        var candidate = name;
        for (var i = 2; Directory.Exists(System.IO.Path.Combine(state.CheckpointsDirectory, candidate)); i++)
        {
            candidate = $"{name}-{i}";
        }

        return candidate;
    }

    /// <summary>Creates the folder, lets the strategy write artefacts, then writes the manifest last (a checkpoint without one is incomplete).</summary>
    public async Task<RollbackCheckpoint> CreateAsync(string name, string strategy, string targetKey, string path, Func<CheckpointWriter, Task<(string? Version, string? Commit)>> capture)
    {
        string folder;
        lock (Reservation)
        {
            // Rollbacks run in parallel (-Selector) may have picked the same default name in the same second: the first
            // to get here keeps it, the others take the next free one. A checkpoint is never shared or overwritten.
            folder = System.IO.Path.Combine(state.CheckpointsDirectory, name);
            for (var i = 2; Directory.Exists(folder); i++)
            {
                folder = System.IO.Path.Combine(state.CheckpointsDirectory, $"{name}-{i}");
            }

            Directory.CreateDirectory(folder);
            name = System.IO.Path.GetFileName(folder);
        }

        var writer = new CheckpointWriter(folder);
        string? version, commit;
        try
        {
            (version, commit) = await capture(writer).ConfigureAwait(false);
        }
        catch
        {
            // A checkpoint is whole or absent: never leave a folder without its manifest.
            Directory.Delete(folder, recursive: true);
            throw;
        }

        var checkpoint = new RollbackCheckpoint
        {
            Name = name,
            Strategy = strategy,
            TargetKey = targetKey,
            Path = path,
            StateDirectory = state.Directory,
            Folder = folder,
            CreatedAt = DateTimeOffset.UtcNow,
            Version = version,
            Commit = commit,
            Artefacts = writer.Artefacts.ToArray(),
            Details = writer.Details.ToDictionary(p => p.Key, p => SecretRedactor.Redact(p.Value)),
        };
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, ManifestFile), JsonSerializer.Serialize(checkpoint, ManifestJson));
        state.Journal.AddEvent(new JournalEvent(targetKey, null, checkpoint.CreatedAt, JournalEventKinds.CheckpointCreated, name));
        return checkpoint;
    }

    public IReadOnlyList<RollbackCheckpoint> List(string? targetKey = null)
    {
        var checkpoints = new List<RollbackCheckpoint>();
        foreach (var folder in Directory.EnumerateDirectories(state.CheckpointsDirectory))
        {
            var manifest = System.IO.Path.Combine(folder, ManifestFile);
            if (!File.Exists(manifest))
            {
                continue;
            }

            var checkpoint = JsonSerializer.Deserialize<RollbackCheckpoint>(File.ReadAllText(manifest), ManifestJson)!;
            if (targetKey is null || checkpoint.TargetKey == targetKey)
            {
                checkpoints.Add(new RollbackCheckpoint
                {
                    Name = checkpoint.Name, Strategy = checkpoint.Strategy, TargetKey = checkpoint.TargetKey, Path = checkpoint.Path,
                    StateDirectory = state.Directory, Folder = folder, CreatedAt = checkpoint.CreatedAt, Version = checkpoint.Version,
                    Commit = checkpoint.Commit, Artefacts = checkpoint.Artefacts, Details = checkpoint.Details,
                });
            }
        }

        return checkpoints.OrderByDescending(c => c.CreatedAt).ToList();
    }
}
