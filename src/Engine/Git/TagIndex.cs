using System.Text.RegularExpressions;
using LibGit2Sharp;

namespace DeploymentRollback.Engine.Git;

/// <summary>All tags read once (peeled to commits), so assessment asks the object database as little as possible.</summary>
internal sealed partial class TagIndex
{
    public static readonly TagIndex Empty = new(new Dictionary<string, Commit>(), new Dictionary<string, List<string>>());

    private readonly Dictionary<string, Commit> commitByTag;
    private readonly Dictionary<string, List<string>> tagsByCommit;

    private TagIndex(Dictionary<string, Commit> commitByTag, Dictionary<string, List<string>> tagsByCommit)
    {
        this.commitByTag = commitByTag;
        this.tagsByCommit = tagsByCommit;
        ByVersionDescending = commitByTag.Keys.Select(VersionTag.TryParse).Where(v => v is not null).Select(v => v!)
            .OrderByDescending(v => v).ThenBy(v => v.Name, StringComparer.Ordinal).ToList();
    }

    public IReadOnlyList<VersionTag> ByVersionDescending { get; }

    [GeneratedRegex("^(?<tag>.+)-[0-9]+-g[0-9a-f]+$")]
    private static partial Regex DescribeSuffix();

    public static TagIndex Read(Repository repo)
    {
        var commitByTag = new Dictionary<string, Commit>(StringComparer.Ordinal);
        var tagsByCommit = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var tag in repo.Tags)
        {
            if (tag.PeeledTarget is not Commit commit)
            {
                continue;
            }

            commitByTag[tag.FriendlyName] = commit;
            if (!tagsByCommit.TryGetValue(commit.Sha, out var names))
            {
                tagsByCommit[commit.Sha] = names = new List<string>();
            }

            names.Add(tag.FriendlyName);
        }

        return new TagIndex(commitByTag, tagsByCommit);
    }

    public bool TryGetCommit(string tagName, out Commit commit) => commitByTag.TryGetValue(tagName, out commit!);

    /// <summary>The version a commit is: its own tag (the highest version if several), else git-describe's "tag-N-gSHA", else the short id.</summary>
    public string Describe(Repository repo, Commit commit)
    {
        if (tagsByCommit.TryGetValue(commit.Sha, out var own))
        {
            return own.Select(n => (Name: n, Version: VersionTag.TryParse(n))).OrderByDescending(t => t.Version).ThenBy(t => t.Name, StringComparer.Ordinal).First().Name;
        }

        if (commitByTag.Count == 0)
        {
            return commit.Sha[..7];
        }

        return repo.Describe(commit, new DescribeOptions { Strategy = DescribeStrategy.Tags, UseCommitIdAsFallback = true, MinimumCommitIdAbbreviatedSize = 7 });
    }

    /// <summary>The release before the current one, in version order: below the current tag, or at or below the nearest tag when HEAD is past it.</summary>
    public (VersionTag Tag, Commit Commit)? PreviousRelease(Commit head, string currentVersion)
    {
        var exact = tagsByCommit.ContainsKey(head.Sha);
        var baseName = exact ? currentVersion : DescribeSuffix().Match(currentVersion) is { Success: true } m ? m.Groups["tag"].Value : null;
        var reference = baseName is null ? null : VersionTag.TryParse(baseName);
        foreach (var tag in ByVersionDescending)
        {
            var commit = commitByTag[tag.Name];
            if (commit.Sha == head.Sha)
            {
                continue;
            }

            var compared = reference is null ? -1 : tag.CompareTo(reference);
            if (compared < 0 || (!exact && compared == 0))
            {
                return (tag, commit);
            }
        }

        return null;
    }

    /// <summary>The tags whose names are closest to a mistyped one, for the error message.</summary>
    public IReadOnlyList<string> Nearest(string requested, int count) =>
        commitByTag.Keys.OrderBy(name => Distance(requested, name)).ThenBy(name => name, StringComparer.Ordinal).Take(count).ToList();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
