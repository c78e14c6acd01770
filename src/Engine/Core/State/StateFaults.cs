namespace DeploymentRollback.Engine;

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

    /// <summary>The error ids of a state folder that cannot be used (read-only, full, damaged, its name lock held): faults of this machine, not of the target.</summary>
    public static bool IsStateFaultId(string? errorId) => errorId is ErrorIds.StateReadOnly or ErrorIds.StateDiskFull or ErrorIds.StateFileUnusable
        or ErrorIds.JournalCorrupt or ErrorIds.StateDirectoryUnusable or ErrorIds.CheckpointReservationTimeout;

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

    public static bool IsDiskFull(Exception e) => e is IOException && (OperatingSystem.IsWindows()
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
