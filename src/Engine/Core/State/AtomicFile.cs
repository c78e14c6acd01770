using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// Writes files whole or not at all: a temp file beside the real file, then a rename. A symbolic link is followed to
/// the file it points at (the usual <c>current/config.yml</c> link stays a link), and anything that is not a regular
/// file (a device such as /dev/null, a FIFO, a folder) is refused rather than replaced. The bytes are written as given.
/// </summary>
public static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    public static void WriteAllText(string path, string content) => WriteAllBytes(path, Utf8NoBom.GetBytes(content));

    public static void WriteAllBytes(string path, byte[] content)
    {
        var real = ResolveRegularFile(path);
        var directory = System.IO.Path.GetDirectoryName(real)!;
        Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(real)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows() && File.Exists(real))
            {
                // Created with the file's own mode: a config holding secrets is never readable by more users than the file
                // allows, not even while it is written or when a killed process leaves the temp file behind.
                options.UnixCreateMode = File.GetUnixFileMode(real);
            }

            using (var stream = new FileStream(temp, options))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows() && File.Exists(real))
            {
                // The rename replaces the file, so its permissions and owner would be the temp file's: a config of the
                // app's user rewritten by root would no longer be readable by the app.
                File.SetUnixFileMode(temp, File.GetUnixFileMode(real));
                UnixOwner.CopyTo(real, temp);
            }

            File.Move(temp, real, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// The file a path names once its links are followed; it must be a regular file or not exist yet. Throws
    /// FileNotRegular for a device, FIFO, socket or folder, which a rename would silently replace.
    /// </summary>
    public static string ResolveRegularFile(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (info.LinkTarget is not null)
        {
            var target = info.ResolveLinkTarget(returnFinalTarget: true);
            full = target?.FullName ?? full;
            info = new FileInfo(full);
        }

        if (Directory.Exists(full))
        {
            throw NotRegular(path, "a folder");
        }

        if (info.Exists && !IsRegular(full))
        {
            throw NotRegular(path, "a device, pipe or socket");
        }

        return full;
    }

    private static bool IsRegular(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return (File.GetAttributes(path) & (FileAttributes.Device | FileAttributes.Directory)) == 0;
        }

        // .NET has no portable file-type query. Opened read-write (which never blocks on a FIFO on Linux, unlike a read
        // or a write alone), a FIFO or socket is not seekable; devices are known by their folder.
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            return stream.CanSeek && !IsSpecialUnixFile(path);
        }
        catch (IOException e) when (e.HResult == NoSuchDeviceOrAddress)
        {
            // A socket.
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unwritable (a read-only mount, permissions) is not the same as special: the write itself reports it.
            return true;
        }
    }

    // ENXIO: opening a socket file (.NET keeps errno as the HResult on Linux and macOS).
    private const int NoSuchDeviceOrAddress = 6;

    private static bool IsSpecialUnixFile(string path) =>
        path.StartsWith("/dev/", StringComparison.Ordinal) || path.StartsWith("/proc/", StringComparison.Ordinal) || path.StartsWith("/sys/", StringComparison.Ordinal);

    private static RollbackException NotRegular(string path, string what) =>
        new(ErrorIds.FileNotRegular, RollbackErrorKind.InvalidArgument,
            $"'{path}' is {what}, not a regular file (or a link to one); writing it by rename would replace it. Give the path of a regular file.")
        {
            TargetName = path,
        };
}

/// <summary>
/// A file's owner and group, kept when the file is replaced. .NET has no API for them; on Linux, statx(2) (its layout is
/// the same on every architecture) reads them and chown(2) sets them. Only a privileged process can give a file away, so
/// a rollback run as another user leaves the file its own, as any editor would; elsewhere (macOS) nothing is done.
/// </summary>
internal static class UnixOwner
{
    private const int CurrentDirectory = -100; // AT_FDCWD
    private const uint WantUidAndGid = 0x8 | 0x10; // STATX_UID | STATX_GID
    private const int UidOffset = 20;
    private const int GidOffset = 24;

    public static void CopyTo(string from, string to)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            var buffer = new byte[256];
            if (Statx(CurrentDirectory, from, 0, WantUidAndGid, buffer) != 0)
            {
                return;
            }

            var uid = BitConverter.ToUInt32(buffer, UidOffset);
            var gid = BitConverter.ToUInt32(buffer, GidOffset);
            // EPERM for an unprivileged process giving the file to someone else: the file stays the writer's, as documented.
            _ = Chown(to, uid, gid);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // A C library without statx (glibc before 2.28, some musl builds): the owner is not kept.
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int directory, string path, int flags, uint mask, byte[] buffer);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int Chown(string path, uint owner, uint group);
}
