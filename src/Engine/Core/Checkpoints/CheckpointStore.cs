using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>Collects a checkpoint's artefacts; every text passes through the secret redactor before it is written.</summary>
public sealed class CheckpointWriter
{
    private readonly List<string> artefacts = new();
    private readonly List<string> logs = new();

    internal CheckpointWriter(string folder)
    {
        Folder = folder;
    }

    public string Folder { get; }
    public IReadOnlyList<string> Artefacts => artefacts;
    public IReadOnlyList<string> Logs => logs;
    public Dictionary<string, string> Details { get; } = new(StringComparer.Ordinal);

    /// <summary>A byte-for-byte copy (e.g. a SQLite database): the state itself, kept so it can be restored.</summary>
    public void AddFileCopy(string relativePath, string source)
    {
        var destination = System.IO.Path.Combine(Folder, relativePath);
        Write(destination, () =>
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            File.Copy(source, destination, overwrite: false);
        });
        artefacts.Add(relativePath.Replace('\\', '/'));
    }

    /// <summary>Lists a file a tool wrote into the folder itself (e.g. a pg_dump).</summary>
    public void AddExisting(string relativePath) => artefacts.Add(relativePath.Replace('\\', '/'));

    /// <summary>A text artefact, redacted, then written in the given encoding (a config file's own: UTF-16, Latin-1), else UTF-8.</summary>
    public void AddText(string relativePath, string content, Func<string, byte[]>? encode = null)
    {
        var destination = System.IO.Path.Combine(Folder, relativePath);
        var redacted = DocumentSecrets.Redact(content, relativePath);
        Write(destination, () =>
        {
            if (encode is null)
            {
                AtomicFile.WriteAllText(destination, redacted);
            }
            else
            {
                AtomicFile.WriteAllBytes(destination, encode(redacted));
            }
        });
        artefacts.Add(relativePath.Replace('\\', '/'));
    }

    /// <summary>
    /// The target's log as read (one source, e.g. a container's): written as text and listed in the manifest's Logs, whose
    /// error lines are the "before" a rollback's logs are compared with. A log that could not be read is not one: use AddText.
    /// </summary>
    public void AddLog(string relativePath, string content)
    {
        AddText(relativePath, content);
        logs.Add(relativePath.Replace('\\', '/'));
    }

    /// <summary>A full disk or read-only folder while writing a checkpoint file is reported with the file's name.</summary>
    internal static void Write(string destination, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(destination, "write the checkpoint file", e);
        }
    }
}

/// <summary>checkpoints/&lt;name&gt;/: a manifest.json plus the artefacts a strategy captured.</summary>
public sealed partial class CheckpointStore
{
    private const string ManifestFile = "manifest.json";
    private static readonly JsonSerializerOptions ManifestJson = new(Journal.JsonOptions) { WriteIndented = true };
    private readonly StateRoot state;
    // Where new checkpoints go: the state's checkpoints/ folder, or -CheckpointDirectory.
    private readonly string root;
    private readonly bool external;

    private const string ReservationLockFile = ".reservation.lock";
    private const int MaxManifestBytes = 4 * 1024 * 1024;
    private static readonly TimeSpan ReservationTimeout = TimeSpan.FromSeconds(30);

    public CheckpointStore(StateRoot state, string? directory = null)
    {
        this.state = state;
        external = directory is not null;
        root = directory ?? state.CheckpointsDirectory;
        if (external)
        {
            try
            {
                Directory.CreateDirectory(root);
            }
            catch (Exception e) when (StateFaults.IsFileFault(e))
            {
                throw StateFaults.ForFile(root, "create the checkpoint folder", e);
            }
        }
    }

    /// <summary>Marks a cached checkpoint whose artefacts stayed in a -CheckpointDirectory on the machine that made it.</summary>
    private const string ExternalMarker = ".artefacts-elsewhere";

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

            if (Directory.Exists(System.IO.Path.Combine(root, requested)) || Directory.Exists(System.IO.Path.Combine(state.CheckpointsDirectory, requested)) || InSharedStore(requested))
            {
                throw new RollbackException(ErrorIds.CheckpointExists, RollbackErrorKind.InvalidArgument,
                    $"A checkpoint named '{requested}' already exists in {root}. Choose another -Name; checkpoints are never overwritten.");
            }

            return requested;
        }

        var name = $"pre-rollback-{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}";
        if (state.Store.HoldsArtefacts)
        {
            // Workers on other machines cannot share the local reservation below: a random part keeps their names apart.
            name += "-" + Guid.NewGuid().ToString("N")[..6];
        }

        var candidate = name;
        for (var i = 2; Directory.Exists(System.IO.Path.Combine(root, candidate)); i++)
        {
            candidate = $"{name}-{i}";
        }

        return candidate;
    }

    /// <summary>The journal's record of a checkpoint, at the time it was created.</summary>
    public void RecordCreated(RollbackCheckpoint checkpoint) =>
        state.Journal.AddEvent(new JournalEvent(checkpoint.TargetKey, null, checkpoint.CreatedAt, JournalEventKinds.CheckpointCreated, checkpoint.Name));

    /// <summary>
    /// Creates the folder, lets the strategy write artefacts, then writes the manifest last (a checkpoint without one is
    /// incomplete) and journals it; with journal false the caller journals it later with <see cref="RecordCreated"/>.
    /// </summary>
    public async Task<RollbackCheckpoint> CreateAsync(string name, string strategy, string targetKey, string path, Func<CheckpointWriter, Task<VersionIdentity>> capture, DeploymentTarget? deployment = null, bool journal = true)
    {
        var folder = Reserve(name);
        name = System.IO.Path.GetFileName(folder);
        var writer = new CheckpointWriter(folder);
        try
        {
            var (version, commit) = await capture(writer).ConfigureAwait(false);
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
                Logs = writer.Logs.ToArray(),
                Details = writer.Details.ToDictionary(p => p.Key, p => SecretRedactor.Redact(p.Value)),
                Deployment = deployment?.WithoutSecrets(SecretRedactor.Redact),
            };
            var manifest = System.IO.Path.Combine(folder, ManifestFile);
            CheckpointWriter.Write(manifest, () => AtomicFile.WriteAllText(manifest, JsonSerializer.Serialize(checkpoint, ManifestJson)));
            Publish(folder, name);
            if (journal)
            {
                RecordCreated(checkpoint);
            }

            return checkpoint;
        }
        catch
        {
            // A checkpoint is whole or absent: never leave a folder without its manifest.
            DeleteQuietly(folder);
            throw;
        }
    }

    /// <summary>
    /// Creates the checkpoint's folder under a name no other checkpoint has. Rollbacks run in parallel (-Selector, or
    /// several processes and runbooks at once) may pick the same default name in the same second: a lock file shared by
    /// every process using this state folder makes "find a free name and create it" one step, so the first keeps the
    /// name and the others take the next free one. A checkpoint is never shared or overwritten.
    /// </summary>
    private string Reserve(string name)
    {
        var lockPath = System.IO.Path.Combine(root, ReservationLockFile);
        var deadline = DateTimeOffset.UtcNow + ReservationTimeout;
        while (true)
        {
            try
            {
                using var reservation = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
                var folder = System.IO.Path.Combine(root, name);
                for (var i = 2; Directory.Exists(folder); i++)
                {
                    folder = System.IO.Path.Combine(root, $"{name}-{i}");
                }

                Directory.CreateDirectory(folder);
                return folder;
            }
            catch (Exception e) when (StateFaults.IsLockHeldByAnother(e) && DateTimeOffset.UtcNow < deadline)
            {
                Thread.Sleep(Random.Shared.Next(5, 25));
            }
            catch (Exception e) when (StateFaults.IsFileFault(e))
            {
                throw StateFaults.IsLockHeldByAnother(e)
                    ? new RollbackException(ErrorIds.CheckpointReservationTimeout, RollbackErrorKind.ResourceBusy,
                        $"Could not reserve a checkpoint name within {ReservationTimeout.TotalSeconds:0} s: another process keeps '{lockPath}' open. Try again; if it persists, find that process.", e)
                    : StateFaults.ForFile(lockPath, "reserve a checkpoint name with", e);
            }
        }
    }

    /// <summary>Removes a folder that nothing records (a checkpoint or snapshot cut short); one left behind is harmless.</summary>
    internal static void DeleteQuietly(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
        }
    }

    private const string ArchiveSuffix = ".tar.gz";
    private const string ManifestSuffix = ".manifest.json";

    private bool InSharedStore(string name) => state.Store.HoldsArtefacts && state.Store.ListArtefacts(SharedArtefacts.Checkpoints) is var names
        && (names.Contains(name + ArchiveSuffix) || names.Contains(name + ManifestSuffix));

    /// <summary>
    /// A checkpoint in -CheckpointDirectory leaves its manifest among the state's checkpoints (and in a shared store); a
    /// shared store keeps a checkpoint of its own folder whole, compressed, up to its size cap (the folder is a cache).
    /// </summary>
    private void Publish(string folder, string name)
    {
        var manifest = File.ReadAllBytes(System.IO.Path.Combine(folder, ManifestFile));
        if (external)
        {
            // Listed with the state's checkpoints: a folder there holds the manifest, marked as naming the real one.
            var stub = System.IO.Path.Combine(state.CheckpointsDirectory, name);
            Directory.CreateDirectory(stub);
            AtomicFile.WriteAllBytes(System.IO.Path.Combine(stub, ExternalMarker), []);
            AtomicFile.WriteAllBytes(System.IO.Path.Combine(stub, ManifestFile), manifest);
        }

        if (!state.Store.HoldsArtefacts)
        {
            return;
        }

        if (external)
        {
            // The artefacts stay in -CheckpointDirectory; the store knows the checkpoint and where it is.
            state.Store.PutArtefact(SharedArtefacts.Checkpoints, name + ManifestSuffix, manifest);
            return;
        }

        var archive = SharedArtefacts.Pack(folder);
        if (archive.Length > state.Store.CheckpointLimitBytes)
        {
            throw new RollbackException(ErrorIds.CheckpointTooLarge, RollbackErrorKind.WriteError,
                $"The checkpoint '{name}' is {archive.Length / 1048576.0:0.0} MB compressed, over the state store's cap of {state.Store.CheckpointLimitBytes / 1048576.0:0.#} MB per checkpoint, so nothing was changed. Pass -CheckpointDirectory with a folder to keep its artefacts in (the store then keeps its manifest), or raise the cap with ${StateStoreAddress.CheckpointLimitVariable} (in MB).");
        }

        // The manifest apart too, so a reader looking for one target's checkpoints fetches only theirs.
        state.Store.PutArtefact(SharedArtefacts.Checkpoints, name + ManifestSuffix, manifest);
        state.Store.PutArtefact(SharedArtefacts.Checkpoints, name + ArchiveSuffix, archive);
    }

    /// <summary>
    /// Brings into this folder the shared store's checkpoints it lacks (of one target, when given): their manifests are
    /// cached in .store-manifests/ so each is fetched once, and only the matching checkpoints' archives are fetched.
    /// </summary>
    private void BringFromSharedStore(string? targetKey)
    {
        if (!state.Store.HoldsArtefacts)
        {
            return;
        }

        var manifests = System.IO.Path.Combine(state.CheckpointsDirectory, ".store-manifests");
        Directory.CreateDirectory(manifests);
        var names = state.Store.ListArtefacts(SharedArtefacts.Checkpoints);
        foreach (var manifestOnly in names.Where(n => n.EndsWith(ManifestSuffix, StringComparison.Ordinal) && !names.Contains(n[..^ManifestSuffix.Length] + ArchiveSuffix)))
        {
            // A checkpoint kept in a -CheckpointDirectory: only its manifest is here, naming where its artefacts are.
            var name = manifestOnly[..^ManifestSuffix.Length];
            var folder = System.IO.Path.Combine(state.CheckpointsDirectory, name);
            if (ValidName().IsMatch(name) && !name.Contains("..") && !Directory.Exists(folder) && state.Store.GetArtefact(SharedArtefacts.Checkpoints, manifestOnly) is { } manifest)
            {
                Directory.CreateDirectory(folder);
                AtomicFile.WriteAllBytes(System.IO.Path.Combine(folder, ExternalMarker), []);
                AtomicFile.WriteAllBytes(System.IO.Path.Combine(folder, ManifestFile), manifest);
            }
        }

        foreach (var archive in names.Where(n => n.EndsWith(ArchiveSuffix, StringComparison.Ordinal)))
        {
            var name = archive[..^ArchiveSuffix.Length];
            var folder = System.IO.Path.Combine(state.CheckpointsDirectory, name);
            if (!ValidName().IsMatch(name) || name.Contains("..") || Directory.Exists(folder))
            {
                continue;
            }

            if (targetKey is not null && names.Contains(name + ManifestSuffix))
            {
                var cached = System.IO.Path.Combine(manifests, name + ".json");
                if (!File.Exists(cached) && state.Store.GetArtefact(SharedArtefacts.Checkpoints, name + ManifestSuffix) is { } manifest)
                {
                    AtomicFile.WriteAllBytes(cached, manifest);
                }

                if (File.Exists(cached) && TryReadManifest(cached, out _) is { } described && described.TargetKey != targetKey)
                {
                    continue;
                }
            }

            if (state.Store.GetArtefact(SharedArtefacts.Checkpoints, archive) is { } content)
            {
                SharedArtefacts.Unpack(content, folder);
            }
        }
    }

    /// <summary>Checkpoints, newest first. A folder whose manifest is corrupt, foreign or not a regular file is skipped with a warning naming it.</summary>
    public IReadOnlyList<RollbackCheckpoint> List(string? targetKey = null, IRollbackObserver? observer = null)
    {
        BringFromSharedStore(targetKey);
        var checkpoints = new List<RollbackCheckpoint>();
        List<string> folders;
        try
        {
            folders = Directory.EnumerateDirectories(state.CheckpointsDirectory).ToList();
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw StateFaults.ForFile(state.CheckpointsDirectory, "list the checkpoints in", e);
        }

        foreach (var folder in folders)
        {
            var manifest = System.IO.Path.Combine(folder, ManifestFile);
            if (!File.Exists(manifest))
            {
                WarnIfAbandoned(folder, manifest, observer);
                continue;
            }

            var checkpoint = TryReadManifest(manifest, out var problem);
            if (checkpoint is null)
            {
                observer?.Warning($"Skipped the checkpoint '{state.Describe(folder)}': its {ManifestFile} cannot be read ({problem}). Restore the file, or move the folder out of {state.Describe(state.CheckpointsDirectory)}.");
                continue;
            }

            if (targetKey is null || checkpoint.TargetKey == targetKey)
            {
                checkpoints.Add(new RollbackCheckpoint
                {
                    Name = checkpoint.Name, Strategy = checkpoint.Strategy, TargetKey = checkpoint.TargetKey, Path = checkpoint.Path,
                    StateDirectory = state.Directory, Folder = File.Exists(System.IO.Path.Combine(folder, ExternalMarker)) ? checkpoint.Folder : folder, CreatedAt = checkpoint.CreatedAt, Version = checkpoint.Version,
                    Commit = checkpoint.Commit, Artefacts = checkpoint.Artefacts ?? Array.Empty<string>(), Logs = checkpoint.Logs ?? Array.Empty<string>(), Details = checkpoint.Details ?? new Dictionary<string, string>(),
                    Deployment = checkpoint.Deployment,
                });
            }
        }

        return checkpoints.OrderByDescending(c => c.CreatedAt).ToList();
    }

    /// <summary>How long a folder without its manifest may be a checkpoint still being written by another rollback.</summary>
    private static readonly TimeSpan BeingWritten = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A checkpoint folder without a manifest: one being written now, or one whose process was killed while writing it
    /// (it was never used). Only the second is said, with the folder to delete; .store-manifests and other dot folders are ours.
    /// </summary>
    private void WarnIfAbandoned(string folder, string manifest, IRollbackObserver? observer)
    {
        if (observer is null || System.IO.Path.GetFileName(folder).StartsWith('.'))
        {
            return;
        }

        if (Directory.Exists(manifest))
        {
            observer.Warning($"Skipped the checkpoint '{state.Describe(folder)}': its {ManifestFile} is a folder. Restore the file, or move the folder out of {state.Describe(state.CheckpointsDirectory)}.");
            return;
        }

        var changed = new DirectoryInfo(folder).LastWriteTimeUtc;
        if (DateTime.UtcNow - changed > BeingWritten)
        {
            observer.Warning($"Skipped '{state.Describe(folder)}': it has no {ManifestFile} and has not changed since {changed:u}, so it is a checkpoint whose process was killed while writing it. No rollback used it; delete the folder.");
        }
    }

    private static RollbackCheckpoint? TryReadManifest(string manifest, out string? problem)
    {
        var content = StateFaults.TryReadSmallFile(manifest, MaxManifestBytes, out problem);
        if (content is null)
        {
            return null;
        }

        try
        {
            var checkpoint = JsonSerializer.Deserialize<RollbackCheckpoint>(content, ManifestJson);
            if (checkpoint is null || string.IsNullOrEmpty(checkpoint.Name) || string.IsNullOrEmpty(checkpoint.TargetKey))
            {
                problem = "it is not a checkpoint manifest";
                return null;
            }

            return checkpoint;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            problem = e.Message;
            return null;
        }
    }
}
