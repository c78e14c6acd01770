namespace DeploymentRollback.Engine;

/// <summary>
/// Reads a file an admin named (a config file, its previous copy, a flag file). Each way it can be wrong gets an error id
/// that says what to do, before anything is changed: missing, a dangling link or a link loop, a folder, a device or pipe
/// (never read: /dev/zero would not end, a FIFO would wait forever), or a file this user may not read.
/// </summary>
public static class NamedFile
{
    /// <summary>The bytes of the regular file a path names (links followed); <paramref name="what"/> names it in messages ("The previous copy").</summary>
    public static byte[] ReadAllBytes(string path, string missingErrorId, string what) => Read(path, Resolve(path, missingErrorId, what), missingErrorId, what);

    /// <summary>Reads a file <see cref="Resolve"/> already accepted (a session's own target, read again at each phase).</summary>
    public static byte[] Read(string path, string missingErrorId, string what) => Read(path, path, missingErrorId, what);

    private static byte[] Read(string path, string real, string missingErrorId, string what)
    {
        try
        {
            return File.ReadAllBytes(real);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Missing(path, real, missingErrorId, what);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new RollbackException(ErrorIds.FileUnreadable, RollbackErrorKind.PermissionDenied,
                $"{what} '{path}' cannot be read ({e.Message}). Run as a user who may read it, or fix its permissions; nothing was changed.", e)
            { TargetName = path };
        }
    }

    /// <summary>The regular file a path names once its links are followed; throws when it is missing or not a regular file.</summary>
    public static string Resolve(string path, string missingErrorId, string what)
    {
        string real;
        try
        {
            real = AtomicFile.ResolveRegularFile(path);
        }
        catch (IOException e)
        {
            // ELOOP: a link that points back at itself through others.
            throw new RollbackException(missingErrorId, RollbackErrorKind.ObjectNotFound,
                $"{what} '{path}' cannot be followed to a file ({e.Message}). Fix the link, or give the path of the file itself.", e)
            { TargetName = path };
        }

        return File.Exists(real) ? real : throw Missing(path, real, missingErrorId, what);
    }

    private static RollbackException Missing(string path, string real, string missingErrorId, string what) =>
        new(missingErrorId, RollbackErrorKind.ObjectNotFound,
            real == System.IO.Path.GetFullPath(path)
                ? $"{what} '{path}' does not exist (or a folder on its way may not be searched by this user)."
                : $"{what} '{path}' is a link to '{real}', which does not exist.")
        {
            TargetName = path,
        };
}
