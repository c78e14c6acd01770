namespace DeploymentRollback.Engine;

/// <summary>
/// The one folder that holds the journal, checkpoints, signals, reports and locks:
/// -StateDirectory if given, else $env:DEPLOYMENT_ROLLBACK_HOME, else a per-user folder.
/// </summary>
public sealed class StateRoot
{
    public const string EnvironmentVariable = "DEPLOYMENT_ROLLBACK_HOME";

    private Journal? journal;

    private StateRoot(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }
    public string CheckpointsDirectory => System.IO.Path.Combine(Directory, "checkpoints");
    public string SignalsDirectory => System.IO.Path.Combine(Directory, "signals");
    public string ReportsDirectory => System.IO.Path.Combine(Directory, "reports");
    public string LocksDirectory => System.IO.Path.Combine(Directory, "locks");
    public string SnapshotsDirectory => System.IO.Path.Combine(Directory, "snapshots");
    public string JournalPath => System.IO.Path.Combine(Directory, "journal.db");

    public Journal Journal => journal ??= new Journal(JournalPath);

    /// <summary>For -WhatIf on a state folder that does not exist yet: the folder this empty stand-in is read in place of.</summary>
    public string? StandInFor { get; private init; }

    /// <summary>A path as the user should read it: under the real state folder, even when a stand-in is being read.</summary>
    public string Describe(string path) =>
        StandInFor is not null && path.StartsWith(Directory, StringComparison.Ordinal) ? StandInFor + path[Directory.Length..] : path;

    /// <summary>An empty state in temporary, so that -WhatIf creates nothing where the real state would be.</summary>
    public static StateRoot OpenStandIn(string temporaryDirectory, string realDirectory)
    {
        var root = Open(temporaryDirectory);
        return new StateRoot(root.Directory) { StandInFor = realDirectory };
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

    public static StateRoot Open(string? explicitDirectory)
    {
        var directory = ResolveDirectory(explicitDirectory);
        try
        {
            var root = new StateRoot(directory);
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

/// <summary>
/// Failures to read or write the state folder, turned into errors that name the file and say what to do:
/// a full disk, a read-only folder, or another I/O error. Callers pass what they were doing with which file.
/// </summary>
public static class StateFaults
{
    // errno values, the same on Linux and macOS, that .NET keeps as the HResult of the IOException it throws.
    private const int NoSpace = 28;
    private const int ReadOnlyFileSystem = 30;
    // Windows: ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL, ERROR_WRITE_PROTECT.
    private const int WindowsHandleDiskFull = 39;
    private const int WindowsDiskFull = 112;
    private const int WindowsWriteProtect = 19;
    // What .NET reports for a file another handle holds with FileShare.None: Windows error codes, and EWOULDBLOCK elsewhere.
    private const int WindowsSharingViolation = 32;
    private const int WindowsLockViolation = 33;
    private const int LinuxWouldBlock = 11;
    private const int BsdWouldBlock = 35;

    /// <summary>Whether an exception is one of the faults this class explains (to catch only those).</summary>
    public static bool IsFileFault(Exception e) => e is IOException or UnauthorizedAccessException;

    public static bool IsLockHeldByAnother(Exception e) => e is IOException && (OperatingSystem.IsWindows()
        ? (e.HResult & 0xFFFF) is WindowsSharingViolation or WindowsLockViolation
        : e.HResult == (OperatingSystem.IsLinux() ? LinuxWouldBlock : BsdWouldBlock));

    public static RollbackException ForFile(string path, string doing, Exception e)
    {
        if (IsDiskFull(e))
        {
            return DiskFull(path, doing, e);
        }

        if (IsReadOnly(e))
        {
            return ReadOnly(path, doing, e);
        }

        return new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.WriteError,
            $"Could not {doing} '{path}': {e.Message} Check the state folder (its permissions, its disk, that nothing else replaced the file), or pass -StateDirectory with another folder.", e);
    }

    public static RollbackException DiskFull(string path, string doing, Exception? e) =>
        new(ErrorIds.StateDiskFull, RollbackErrorKind.WriteError,
            $"Could not {doing} '{path}': the disk is full. Free space on the disk that holds {System.IO.Path.GetDirectoryName(path)}, or pass -StateDirectory with a folder on another disk.", e);

    public static RollbackException ReadOnly(string path, string doing, Exception? e) =>
        new(ErrorIds.StateReadOnly, RollbackErrorKind.PermissionDenied,
            $"Could not {doing} '{path}': the folder is read-only or not writable by this user. Make it writable, or pass -StateDirectory (or set ${StateRoot.EnvironmentVariable}) with a writable folder.", e);

    /// <summary>Whether the disk that holds a path has (almost) no space left: SQLite reports a full disk as a plain I/O error.</summary>
    public static bool IsOutOfSpace(string path)
    {
        try
        {
            return new DriveInfo(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!).AvailableFreeSpace < 64 * 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    private static bool IsDiskFull(Exception e) => e is IOException && (OperatingSystem.IsWindows()
        ? (e.HResult & 0xFFFF) is WindowsDiskFull or WindowsHandleDiskFull
        : e.HResult == NoSpace);

    public static bool IsReadOnly(Exception e) => e is UnauthorizedAccessException
        || (e is IOException && (OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) == WindowsWriteProtect : e.HResult == ReadOnlyFileSystem));

    /// <summary>
    /// Reads a small file of the state folder without ever blocking: .NET has no portable file-type query, but a pipe,
    /// socket or device reports a size of 0, so an empty entry is refused before it is opened (opening a FIFO would wait
    /// for a writer forever). Returns null with the reason when the file cannot be one of ours.
    /// </summary>
    public static byte[]? TryReadSmallFile(string path, int maxBytes, out string? problem)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length == 0 || info.Length > maxBytes)
            {
                problem = info.Length == 0 ? "it is empty or not a regular file" : $"it is larger than {maxBytes / 1024} KiB";
                return null;
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var content = new byte[info.Length];
            var read = stream.ReadAtLeast(content, content.Length, throwOnEndOfStream: false);
            problem = read == content.Length ? null : "it changed while being read";
            return problem is null ? content : null;
        }
        catch (Exception e) when (IsFileFault(e))
        {
            problem = e.Message;
            return null;
        }
    }
}

/// <summary>Writes files whole or not at all: a temp file beside the target, then a rename.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        System.IO.Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temp, content);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
