using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Git;
using LibGit2Sharp;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Git;

/// <summary>Tags read from git's packed-refs file as text must be exactly what libgit2 reads, on files the real git wrote.</summary>
public class PackedTagsTests
{
    private static RollbackRequest Request(GitFixture git, string? path = null) => new() { Deployment = new GitTarget { Path = path ?? git.RepoPath } };

    /// <summary>
    /// Lightweight, annotated and nested tags, a tag of a tag and one of a tree, packed by git; then a loose tag and a
    /// loose one that moves a packed tag, as git writes them after packing. HEAD at v2.0.0.
    /// </summary>
    private static (GitFixture Git, string First, string Second, string Third) PackedRepository()
    {
        var git = new GitFixture();
        var first = git.Commit("Release 1.0.0");
        git.RunGit("tag", "v1.0.0");
        git.RunGit("tag", "v1.5.0", "HEAD^{tree}");
        var second = git.Commit("Release 1.1.0");
        git.RunGit("tag", "-a", "v1.1.0", "-m", "Release 1.1.0");
        git.RunGit("tag", "-a", "release/1.1-signed", "-m", "A tag of a tag", "v1.1.0");
        git.RunGit("tag", "v1.2.0", first);
        git.RunGit("pack-refs", "--all");
        var third = git.Commit("Release 2.0.0");
        git.RunGit("tag", "-a", "v2.0.0", "-m", "Release 2.0.0");
        // A loose reference for a tag that is also packed: the loose one is the tag now.
        git.RunGit("tag", "-f", "v1.2.0", second);
        return (git, first, second, third);
    }

    [Fact]
    public async Task Tags_in_a_packed_file_agree_with_libgit2_and_the_assessment_uses_them()
    {
        var (git, first, second, third) = PackedRepository();
        using var cleanup = git;
        Assert.Contains("fully-peeled", File.ReadLines(Path.Combine(git.RepoPath, ".git", "packed-refs")).First());

        using (var repo = git.Open())
        {
            Assert.True(PackedTags.TryRead(repo, out var packed, out var loose));
            Assert.Equal(new[] { "v1.0.0", "v1.1.0", "release/1.1-signed", "v1.2.0", "v1.5.0" }.Order(), packed.Keys.Order());
            Assert.Equal(new[] { "v1.2.0", "v2.0.0" }, loose.Order());

            var fast = TagIndex.Read(repo).CommitByTag;
            var throughLibgit2 = TagIndex.ReadThroughLibgit2(repo).CommitByTag;
            // The tag of a tree is known not to name a commit only when it is used (see PackedTags).
            Assert.Equal(repo.Lookup<Tree>(fast["v1.5.0"])?.Sha, fast["v1.5.0"]);
            Assert.Equal(throughLibgit2.OrderBy(t => t.Key), fast.Where(t => t.Key != "v1.5.0").OrderBy(t => t.Key));
            Assert.Equal(second, fast["release/1.1-signed"]);
            Assert.Equal(second, fast["v1.2.0"]);
            Assert.Equal(third, fast["v2.0.0"]);
            Assert.Equal(first, fast["v1.0.0"]);
        }

        // The release before v2.0.0 by version is v1.5.0, a tree: passed over for v1.2.0, as when libgit2 reads the tags.
        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());
        Assert.Equal("v2.0.0", assessment.CurrentVersion);
        Assert.Equal("v1.2.0", assessment.LastGoodVersion);
        Assert.Equal("previous release tag", assessment.LastGoodSource);

        git.RunGit("checkout", "-q", "--detach", "v1.0.0");
        var onPackedTag = await RollbackEngine.AssessAsync(Request(git), git.Context());
        Assert.Equal("v1.0.0", onPackedTag.CurrentVersion);
        Assert.Null(onPackedTag.LastGoodVersion);
    }

    [Fact]
    public void A_linked_worktree_reads_the_tags_of_its_repository()
    {
        var (git, _, _, _) = PackedRepository();
        using var cleanup = git;
        var worktree = git.Temp.Combine("worktree");
        git.RunGit("worktree", "add", "-q", "--detach", worktree, "v1.1.0");

        using var main = git.Open();
        using var linked = new Repository(worktree);
        Assert.True(PackedTags.TryRead(linked, out var packed, out _));
        Assert.NotEmpty(packed);
        Assert.Equal(TagIndex.Read(main).CommitByTag.OrderBy(t => t.Key), TagIndex.Read(linked).CommitByTag.OrderBy(t => t.Key));
        // Three tags name that commit; the highest version is its version.
        Assert.Equal("v1.2.0", TagIndex.Read(linked).Describe(linked, linked.Head.Tip));
    }

    [Fact]
    public void A_packed_file_not_fully_peeled_or_not_as_git_writes_it_is_left_to_libgit2()
    {
        var (git, _, _, _) = PackedRepository();
        using var cleanup = git;
        var file = Path.Combine(git.RepoPath, ".git", "packed-refs");
        var lines = File.ReadAllLines(file);

        foreach (var changed in new[]
        {
            lines.Skip(1).ToArray(),                                                   // no header (an old git)
            new[] { "# pack-refs with: peeled sorted" }.Concat(lines.Skip(1)).ToArray(), // peeled, but not fully
            lines.Select(l => l.StartsWith('^') ? "^" + l[1..].ToUpperInvariant() : l).ToArray(),
        })
        {
            File.WriteAllLines(file, changed);
            using var repo = git.Open();
            Assert.False(PackedTags.TryRead(repo, out _, out _));
            Assert.Equal(TagIndex.ReadThroughLibgit2(repo).CommitByTag.OrderBy(t => t.Key), TagIndex.Read(repo).CommitByTag.OrderBy(t => t.Key));
        }

        // A tag name that is not UTF-8.
        File.WriteAllBytes(file, [.. System.Text.Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n" + new string('a', 40) + " refs/tags/v9"), 0xFF, (byte)'\n']);
        using (var repo = git.Open())
        {
            Assert.False(PackedTags.TryRead(repo, out _, out _));
        }

        File.WriteAllLines(file, lines);
        using (var repo = git.Open())
        {
            Assert.True(PackedTags.TryRead(repo, out _, out _));
        }
    }
}
