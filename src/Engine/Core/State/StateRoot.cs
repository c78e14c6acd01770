namespace DeploymentRollback.Engine;

/// <summary>
/// The state of one command: its store (the local folder by default, else PostgreSQL or Azure Blob Storage) and the
/// local folder that holds the local store, or a cache of a shared store's artefacts: -StateDirectory if given, else
/// $env:DEPLOYMENT_ROLLBACK_HOME, else a per-user folder.
/// </summary>
public sealed class StateRoot : IDisposable
{
    public const string EnvironmentVariable = "DEPLOYMENT_ROLLBACK_HOME";

    private StateStore? store;
    private object? storeLock;

    private StateRoot(string directory)
    {
        Directory = directory;
    }

    /// <summary>Where the journal, locks and (for shared stores) artefacts live.</summary>
    // An assessment reads the journal from two threads at once: one store, whichever asks first.
    public StateStore Store => LazyInitializer.EnsureInitialized(ref store, ref storeLock, () => new LocalStateStore(JournalPath, LocksDirectory));

    /// <summary>The store as an admin should read it: the folder, or the shared store's address without secrets.</summary>
    public string StoreLocation => Store.Location;

    public void Dispose() => store?.Dispose();

    /// <summary>
    /// A shared store's artefacts are cached in a folder of their own under the local one (stores/&lt;id&gt;), so the
    /// caches of two stores, and the local store's own files, never mix. A folder that already is that cache is kept.
    /// </summary>
    private static string CacheFolder(string directory, StateStoreAddress? shared)
    {
        if (shared is null)
        {
            return directory;
        }

        var id = StateStore.KeyName(shared.Location);
        var trimmed = System.IO.Path.TrimEndingDirectorySeparator(directory);
        return System.IO.Path.GetFileName(trimmed) == id && System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(trimmed)) == "stores"
            ? trimmed
            : System.IO.Path.Combine(directory, "stores", id);
    }

    /// <summary>Uses a shared store instead of the folder's own; the folder then caches its snapshots.</summary>
    private void Attach(StateStoreAddress? shared)
    {
        if (shared is not null)
        {
            store = shared.Open();
        }
    }

    /// <summary>The folder of a verified version's snapshot, brought from a shared store when not cached yet; null when it has none or the store lost it.</summary>
    public string? SnapshotFolder(VerifiedVersion verified) => SharedArtefacts.Localise(this, verified.Snapshot);

    public string Directory { get; }
    public string CheckpointsDirectory => System.IO.Path.Combine(Directory, "checkpoints");
    public string SignalsDirectory => System.IO.Path.Combine(Directory, "signals");
    public string ReportsDirectory => System.IO.Path.Combine(Directory, "reports");
    public string LocksDirectory => System.IO.Path.Combine(Directory, "locks");
    public string SnapshotsDirectory => System.IO.Path.Combine(Directory, "snapshots");

    /// <summary>What a tool start can be spared next time (EF Core's ef.dll command line, Compose's checked configurations); safe to delete.</summary>
    public string ToolCacheDirectory => System.IO.Path.Combine(Directory, "cache");
    public string JournalPath => System.IO.Path.Combine(Directory, "journal.db");

    public Journal Journal => Store.Journal;

    /// <summary>For -WhatIf on a state folder that does not exist yet: the folder this empty stand-in is read in place of.</summary>
    public string? StandInFor { get; private init; }

    /// <summary>A path as the user should read it: under the real state folder, even when a stand-in is being read.</summary>
    public string Describe(string path) =>
        StandInFor is not null && path.StartsWith(Directory, StringComparison.Ordinal) ? StandInFor + path[Directory.Length..] : path;

    /// <summary>An empty state in temporary, so that -WhatIf creates nothing where the real state would be.</summary>
    public static StateRoot OpenStandIn(string temporaryDirectory, string realDirectory, StateStoreAddress? shared = null)
    {
        var root = Open(temporaryDirectory);
        var standIn = new StateRoot(root.Directory) { StandInFor = CacheFolder(realDirectory, shared) };
        // A shared store is read as it is (-WhatIf writes nothing to it that a read would not).
        standIn.Attach(shared);
        return standIn;
    }

    public static string ResolveDirectory(string? explicitDirectory)
    {
        if (!string.IsNullOrWhiteSpace(explicitDirectory))
        {
            return System.IO.Path.GetFullPath(explicitDirectory);
        }

        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return System.IO.Path.GetFullPath(fromEnvironment);
        }

        if (OperatingSystem.IsWindows())
        {
            return System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "DeploymentRollback");
        }

        var xdgState = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return System.IO.Path.Combine(string.IsNullOrWhiteSpace(xdgState) ? System.IO.Path.Combine(home, ".local", "state") : xdgState, "deployment-rollback");
    }

    public static StateRoot Open(string? explicitDirectory, StateStoreAddress? shared = null)
    {
        var directory = CacheFolder(ResolveDirectory(explicitDirectory), shared);
        try
        {
            var root = new StateRoot(directory);
            root.Attach(shared);

            foreach (var folder in new[] { root.Directory, root.CheckpointsDirectory, root.SignalsDirectory, root.ReportsDirectory, root.LocksDirectory, root.SnapshotsDirectory })
            {
                System.IO.Directory.CreateDirectory(folder);
            }

            return root;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RollbackException(ErrorIds.StateDirectoryUnusable, RollbackErrorKind.WriteError,
                $"The state directory '{directory}' cannot be created or written ({e.Message}). Pass -StateDirectory with a writable folder, or set ${EnvironmentVariable}.", e);
        }
    }
}
