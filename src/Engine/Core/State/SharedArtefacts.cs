using System.Formats.Tar;
using System.IO.Compression;

namespace DeploymentRollback.Engine;

/// <summary>
/// Artefacts (verified-good snapshots, checkpoints, signals, reports) in a shared store. They are written to the local
/// folder as always and then put into the store; reading first brings into the local folder, which is then only a
/// cache, what the store has and the folder lacks. So a worker with an empty disk sees what any other worker wrote.
/// </summary>
public static class SharedArtefacts
{
    public const string Snapshots = "snapshots";
    public const string Checkpoints = "checkpoints";
    public const string Signals = "signals";
    public const string Reports = "reports";

    /// <summary>How a verified record names a snapshot kept in a shared store (a local store records the folder).</summary>
    public const string SnapshotReferencePrefix = "store:snapshots/";

    /// <summary>A folder as one compressed archive.</summary>
    public static byte[] Pack(string folder)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            TarFile.CreateFromDirectory(folder, gzip, includeBaseDirectory: false);
        }

        return buffer.ToArray();
    }

    /// <summary>Unpacks beside the folder and renames into place, so a folder is whole or absent.</summary>
    public static void Unpack(byte[] archive, string folder)
    {
        var partial = folder + ".partial-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(partial);
        try
        {
            using (var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gzip, partial, overwriteFiles: false);
            }

            Directory.Move(partial, folder);
        }
        catch (IOException) when (Directory.Exists(folder))
        {
            // Another command of this machine brought it in first.
        }
        finally
        {
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }
        }
    }

    /// <summary>Puts a verified-good snapshot into a shared store; returns how the journal should name it.</summary>
    public static string Keep(StateRoot state, string snapshotFolder)
    {
        if (!state.Store.HoldsArtefacts)
        {
            return snapshotFolder;
        }

        var id = System.IO.Path.GetFileName(snapshotFolder);
        state.Store.PutArtefact(Snapshots, id + ".tar.gz", Pack(snapshotFolder));
        return SnapshotReferencePrefix + id;
    }

    /// <summary>The local folder of a snapshot the journal names, brought from the shared store when missing here; null when the store lost it.</summary>
    public static string? Localise(StateRoot state, string? reference)
    {
        if (reference is null || !reference.StartsWith(SnapshotReferencePrefix, StringComparison.Ordinal))
        {
            return reference;
        }

        var id = reference[SnapshotReferencePrefix.Length..];
        if (id.Length == 0 || id.Contains('/') || id.Contains('\\') || id.Contains(".."))
        {
            return null;
        }

        var folder = System.IO.Path.Combine(state.SnapshotsDirectory, id);
        if (!Directory.Exists(folder))
        {
            if (state.Store.GetArtefact(Snapshots, id + ".tar.gz") is not { } archive)
            {
                return null;
            }

            Unpack(archive, folder);
        }

        return folder;
    }

    /// <summary>Puts a file (a signal or a report) into a shared store under its file name.</summary>
    public static void KeepFile(StateRoot state, string kind, string file)
    {
        if (state.Store.HoldsArtefacts)
        {
            state.Store.PutArtefact(kind, System.IO.Path.GetFileName(file), File.ReadAllBytes(file));
        }
    }

    /// <summary>Brings into the local folder the kind's files the store has and the folder lacks (those accepted by the filter).</summary>
    public static void BringFiles(StateRoot state, string kind, string folder, Func<string, bool>? wanted = null)
    {
        if (!state.Store.HoldsArtefacts)
        {
            return;
        }

        foreach (var name in state.Store.ListArtefacts(kind))
        {
            var local = System.IO.Path.Combine(folder, name);
            if (IsPlainName(name) && (wanted is null || wanted(name)) && !File.Exists(local) && state.Store.GetArtefact(kind, name) is { } content)
            {
                AtomicFile.WriteAllBytes(local, content);
            }
        }
    }

    /// <summary>A name from the store becomes a file name here only when it cannot climb out of the folder.</summary>
    internal static bool IsPlainName(string name) =>
        name.Length > 0 && !name.Contains('/') && !name.Contains('\\') && name != "." && name != ".." && !name.StartsWith('.');
}
