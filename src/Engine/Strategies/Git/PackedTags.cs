using LibGit2Sharp;

namespace DeploymentRollback.Engine.Git;

/// <summary>
/// The tags of git's packed-refs file, read as text. libgit2 offers no way to list references with their targets in
/// one call: per tag it takes a lookup and an object-header read, most of a first assessment's time on a repository
/// with thousands of tags (see DESIGN-NOTES, "What we do by hand"). The file is read only when git wrote it "fully
/// peeled", so that every annotated tag is followed by the object it names ("^" line) and a tag without one names
/// its object itself; otherwise, and for anything unexpected, the caller reads every tag through libgit2.
/// </summary>
internal static class PackedTags
{
    internal const string TagPrefix = "refs/tags/";
    private const string Header = "# pack-refs with:";

    // A name that is not UTF-8 is left to libgit2, which names it as it always did.
    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// packed: tag name (without refs/tags/) to the object it names, peeled; loose: the names of the loose tag
    /// references, which win over packed ones and are left to libgit2. False when the files cannot be read so.
    /// </summary>
    public static bool TryRead(Repository repo, out Dictionary<string, string> packed, out IReadOnlyList<string> loose)
    {
        packed = new Dictionary<string, string>(StringComparer.Ordinal);
        loose = Array.Empty<string>();
        try
        {
            var common = CommonDirectory(repo);
            // Loose names first: a concurrent pack-refs writes the new packed file before it deletes the loose ones.
            loose = LooseTagNames(Path.Combine(common, "refs", "tags"));
            var file = Path.Combine(common, "packed-refs");
            return !File.Exists(file) || Parse(File.ReadLines(file, StrictUtf8), packed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.DecoderFallbackException)
        {
            // libgit2 reads them again and says what is wrong in its own words.
            return false;
        }
    }

    private static bool Parse(IEnumerable<string> lines, Dictionary<string, string> tags)
    {
        using var line = lines.GetEnumerator();
        if (!line.MoveNext())
        {
            return true;
        }

        if (!line.Current.StartsWith(Header, StringComparison.Ordinal) ||
            !line.Current[Header.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("fully-peeled"))
        {
            return false;
        }

        // The reference on the line before: a tag's name, "" for another reference, null at the start or after a "^" line.
        string? last = null;
        while (line.MoveNext())
        {
            var text = line.Current;
            if (text.StartsWith('^'))
            {
                // The object the annotated tag above names, tags of tags followed through.
                if (last is null || !IsObjectId(text.AsSpan(1)))
                {
                    return false;
                }

                if (last.Length > 0)
                {
                    tags[last] = text[1..];
                }

                last = null;
                continue;
            }

            var space = text.IndexOf(' ');
            if (space < 0 || !IsObjectId(text.AsSpan(0, space)))
            {
                return false;
            }

            var name = text[(space + 1)..];
            last = name.StartsWith(TagPrefix, StringComparison.Ordinal) ? name[TagPrefix.Length..] : "";
            if (last.Length > 0)
            {
                tags[last] = text[..space];
            }
        }

        return true;
    }

    private static IReadOnlyList<string> LooseTagNames(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return Array.Empty<string>();
        }

        // git's own lock files (a reference being written) are not references.
        return Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
            .Where(file => !file.EndsWith(".lock", StringComparison.Ordinal))
            .Select(file => Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/'))
            .ToList();
    }

    /// <summary>Where the shared references live: a linked worktree's git folder names it in its "commondir" file.</summary>
    private static string CommonDirectory(Repository repo)
    {
        var gitDirectory = repo.Info.Path;
        var pointer = Path.Combine(gitDirectory, "commondir");
        return File.Exists(pointer) ? Path.GetFullPath(Path.Combine(gitDirectory, File.ReadAllText(pointer).Trim())) : gitDirectory;
    }

    // SHA-1 (40) or SHA-256 (64) in lower-case hex, as git writes them.
    private static bool IsObjectId(ReadOnlySpan<char> text)
    {
        if (text.Length is not (40 or 64))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return false;
            }
        }

        return true;
    }
}
