using System.Text.Json;
using DeploymentRollback.Engine;
using LibGit2Sharp;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Git;

public class GitRollbackTests
{
    private static RollbackRequest Request(GitFixture git, string? target = null) => new() { Deployment = new GitTarget { Path = git.RepoPath }, Target = target };

    [Fact]
    public async Task Assessment_finds_current_version_previous_release_in_version_order_and_the_commits_between()
    {
        using var git = new GitFixture();
        git.Commit("Release 2.10.0");
        git.Tag("v2.10.0");
        // Tagged later in time but lower in version: date order would wrongly pick it.
        git.Tag("v2.9.0", git.HeadSha);
        git.Commit("Release 2.11.0");
        git.Tag("v2.11.0");
        git.Commit("hotfix after 2.11.0");

        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());

        Assert.StartsWith("v2.11.0-1-g", assessment.CurrentVersion);
        Assert.Equal("v2.11.0", assessment.LastGoodVersion);
        Assert.Equal("previous release tag", assessment.LastGoodSource);
        Assert.Single(assessment.Changes);
        Assert.Contains("hotfix after 2.11.0", assessment.Changes[0]);
        Assert.Equal("Git", assessment.RecommendedStrategy);
        Assert.Equal("git:" + git.RepoPath, assessment.TargetKey);
    }

    [Fact]
    public async Task Assessment_on_an_exact_tag_picks_the_release_below_it_by_version()
    {
        using var git = new GitFixture().WithReleases();

        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());

        Assert.Equal("v2.3.1", assessment.CurrentVersion);
        Assert.Equal("v2.3.0", assessment.LastGoodVersion);
        Assert.Equal(FailureType.Unknown, assessment.FailureType);
    }

    [Fact]
    public async Task Annotated_tags_are_read_like_lightweight_ones()
    {
        using var git = new GitFixture();
        git.Commit("Release 1.0.0");
        using (var repo = git.Open())
        {
            repo.ApplyTag("v1.0.0", new LibGit2Sharp.Signature("Releaser", "r@example.invalid", DateTimeOffset.Now), "Release 1.0.0");
        }

        git.Commit("Release 1.1.0");
        git.Tag("v1.1.0");

        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());
        var result = await RollbackEngine.InvokeAsync(Request(git, "v1.0.0"), git.Context());

        Assert.Equal("v1.1.0", assessment.CurrentVersion);
        Assert.Equal("v1.0.0", assessment.LastGoodVersion);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(git.TagSha("v1.0.0"), git.HeadSha);
    }

    [Fact]
    public async Task Verified_good_version_in_the_journal_wins_over_the_previous_tag()
    {
        using var git = new GitFixture().WithReleases();
        git.State().Journal.RecordVerified(new VerifiedVersion { TargetKey = "git:" + git.RepoPath, Strategy = "Git", Version = "v2.2.0", Commit = git.TagSha("v2.2.0"), RecordedAt = DateTimeOffset.UtcNow, Evidence = "test" });

        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());
        var result = await RollbackEngine.InvokeAsync(Request(git), git.Context());

        Assert.Equal("v2.2.0", assessment.LastGoodVersion);
        Assert.StartsWith("verified-good", assessment.LastGoodSource);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(git.TagSha("v2.2.0"), git.HeadSha);
    }

    [Fact]
    public async Task Checkout_rolls_back_records_checkpoints_and_signals_and_a_second_run_is_skipped()
    {
        using var git = new GitFixture().WithReleases();
        var observer = new RecordingObserver();

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0"), git.Context(observer));

        Assert.NotNull(result);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("v2.3.1", result.FromVersion);
        Assert.Equal("v2.3.0", result.ToVersion);
        Assert.Equal(git.TagSha("v2.3.0"), git.HeadSha);
        Assert.Equal("good\n", git.ReadFile());
        Assert.Equal(VerificationOutcome.NotRun, result.Verification);
        Assert.Contains(result.Changes, c => c.Contains("Release 2.3.1"));
        Assert.Equal(new[] { SignalNames.RollbackStarted, SignalNames.RollbackComplete }, result.Signals);
        Assert.Contains(observer.Asked, a => a.StartsWith("Check out v2.3.0"));

        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        Assert.Equal(result.CheckpointName, checkpoint.Name);
        Assert.Equal("v2.3.1", checkpoint.Version);
        Assert.True(File.Exists(Path.Combine(checkpoint.Folder, "manifest.json")));
        Assert.Contains("git-status.txt", checkpoint.Artefacts);

        var attempt = Assert.Single(git.State().Journal.GetAttempts());
        Assert.Equal(result.AttemptId, attempt.AttemptId);
        Assert.Equal(RollbackOutcome.Succeeded, attempt.Outcome);

        var again = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0"), git.Context());
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
        Assert.Contains("already at v2.3.0", again.Message);
        Assert.Equal(new[] { RollbackOutcome.Skipped, RollbackOutcome.Succeeded }, git.State().Journal.GetAttempts().Select(a => a.Outcome));
        Assert.Single(new CheckpointStore(git.State()).List());
    }

    [Fact]
    public async Task Without_a_target_a_second_run_stays_at_the_version_the_first_went_to()
    {
        using var git = new GitFixture().WithReleases();

        var first = await RollbackEngine.InvokeAsync(Request(git), git.Context());
        var second = await RollbackEngine.InvokeAsync(Request(git), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, first!.Outcome);
        Assert.Equal("v2.3.0", first.ToVersion);
        Assert.Equal(RollbackOutcome.Skipped, second!.Outcome);
        Assert.Equal(git.TagSha("v2.3.0"), git.HeadSha);
    }

    [Fact]
    public async Task WhatIf_lists_every_step_and_changes_nothing()
    {
        using var git = new GitFixture().WithReleases();
        var head = git.HeadSha;
        var observer = new RecordingObserver(consent: false);

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0"), git.Context(observer));

        Assert.Null(result);
        Assert.Equal(2, observer.Asked.Count);
        Assert.StartsWith("Create checkpoint", observer.Asked[0]);
        Assert.StartsWith("Check out v2.3.0", observer.Asked[1]);
        Assert.Equal(head, git.HeadSha);
        Assert.Empty(git.State().Journal.GetAttempts());
        Assert.Empty(new SignalStore(git.State()).Read());
        Assert.Empty(new CheckpointStore(git.State()).List());
    }

    [Fact]
    public async Task Uncommitted_changes_refuse_with_GitWorkingTreeDirty_and_change_nothing()
    {
        using var git = new GitFixture().WithReleases();
        File.WriteAllText(Path.Combine(git.RepoPath, "app.txt"), "work in progress\n");
        var head = git.HeadSha;

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git, "v2.3.0"), git.Context()));

        Assert.Equal(ErrorIds.GitWorkingTreeDirty, error.ErrorId);
        Assert.Contains("-Force", error.Message);
        Assert.Equal(head, git.HeadSha);
        Assert.Equal("work in progress\n", git.ReadFile());
        Assert.Empty(git.State().Journal.GetAttempts());
    }

    [Fact]
    public async Task Force_stashes_uncommitted_work_into_the_checkpoint_so_nothing_is_lost()
    {
        using var git = new GitFixture().WithReleases();
        File.WriteAllText(Path.Combine(git.RepoPath, "app.txt"), "work in progress password=hunter2\n");
        File.WriteAllText(Path.Combine(git.RepoPath, "notes.txt"), "untracked notes\n");

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0") with { Force = true }, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("good\n", git.ReadFile());
        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        var patch = File.ReadAllText(Path.Combine(checkpoint.Folder, "uncommitted.patch"));
        Assert.Contains("work in progress", patch);
        Assert.DoesNotContain("hunter2", patch);
        Assert.Contains("git stash apply", File.ReadAllText(Path.Combine(checkpoint.Folder, "stash.txt")));

        using var repo = git.Open();
        var stash = Assert.Single(repo.Stashes);
        Assert.Contains(checkpoint.Name, stash.Message);
        Assert.Equal("work in progress password=hunter2\n", ((Blob)stash.WorkTree["app.txt"].Target).GetContentText());
        Assert.NotNull(stash.Untracked["notes.txt"]);
    }

    [Fact]
    public async Task Unknown_target_fails_with_GitTargetNotFound_naming_the_nearest_tags()
    {
        using var git = new GitFixture().WithReleases();

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git, "v2.3.9"), git.Context()));

        Assert.Equal(ErrorIds.GitTargetNotFound, error.ErrorId);
        Assert.Contains("v2.3.0", error.Message);
        Assert.Contains("v2.3.1", error.Message);
        Assert.Empty(git.State().Journal.GetAttempts());
    }

    [Fact]
    public async Task A_target_that_looks_like_a_shell_command_is_just_an_unknown_name()
    {
        using var git = new GitFixture().WithReleases();

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git, "v2.3.0; rm -rf /"), git.Context()));

        Assert.Equal(ErrorIds.GitTargetNotFound, error.ErrorId);
        Assert.Equal("bad\n", git.ReadFile());
    }

    [Fact]
    public async Task No_target_and_no_earlier_release_fails_with_GitTargetMissing()
    {
        using var git = new GitFixture();
        git.Commit("first");

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git), git.Context()));

        Assert.Equal(ErrorIds.GitTargetMissing, error.ErrorId);
    }

    [Fact]
    public async Task A_folder_that_is_not_a_repository_fails_with_GitRepositoryNotFound()
    {
        using var temp = new TempDirectory();

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = temp.Path }, Target = "v1" }, new EngineContext(StateRoot.Open(temp.Combine("state")), new RecordingObserver(), default)));

        Assert.Equal(ErrorIds.GitRepositoryNotFound, error.ErrorId);
    }

    [Fact]
    public async Task Revert_mode_adds_revert_commits_keeps_history_and_is_idempotent()
    {
        using var git = new GitFixture().WithReleases();
        git.Commit("Release 2.3.1 config", file: "config.txt", content: "timeout=1\n");
        var badHead = git.HeadSha;

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(3, result.Steps.Count);
        using (var repo = git.Open())
        {
            Assert.False(repo.Info.IsHeadDetached);
            Assert.Equal(repo.Lookup<Commit>(git.TagSha("v2.3.0")).Tree.Sha, repo.Head.Tip.Tree.Sha);
            Assert.Contains(repo.Commits, c => c.Sha == badHead);
            Assert.StartsWith("Revert", repo.Head.Tip.MessageShort);
        }

        var again = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context());
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
    }

    [Fact]
    public async Task Revert_of_named_commits_reverts_only_those()
    {
        using var git = new GitFixture().WithReleases();
        var config = git.Commit("add config", file: "config.txt", content: "timeout=1\n");
        git.Commit("unrelated docs", file: "README", content: "docs\n");

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.1").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Commits = new[] { config[..8] } }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.False(File.Exists(Path.Combine(git.RepoPath, "config.txt")));
        Assert.True(File.Exists(Path.Combine(git.RepoPath, "README")));
        Assert.Equal("bad\n", git.ReadFile());
    }

    [Fact]
    public async Task Revert_on_a_detached_head_is_refused()
    {
        using var git = new GitFixture().WithReleases();
        using (var repo = git.Open())
        {
            Commands.Checkout(repo, repo.Head.Tip);
        }

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git, "v2.3.0").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context()));

        Assert.Equal(ErrorIds.GitHeadDetached, error.ErrorId);
    }

    [Fact]
    public async Task Revert_that_conflicts_fails_and_leaves_the_branch_where_it_was()
    {
        using var git = new GitFixture().WithReleases();
        var first = git.Commit("change line", content: "first change\n");
        git.Commit("change it again", content: "second change\n");
        var head = git.HeadSha;

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.1").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Commits = new[] { first } }), git.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Contains("conflicts", result.Message);
        Assert.Equal(head, git.HeadSha);
        Assert.Equal("second change\n", git.ReadFile());
        Assert.Contains(SignalNames.RollbackFailed, result.Signals);
    }

    [Fact]
    public async Task Revert_with_push_updates_the_remote_branch()
    {
        using var git = new GitFixture().WithReleases();
        var remotePath = git.Temp.Combine("remote.git");
        Repository.Init(remotePath, isBare: true);
        using (var repo = git.Open())
        {
            repo.Network.Remotes.Add("origin", remotePath);
            repo.Network.Push(repo.Network.Remotes["origin"], "refs/heads/master:refs/heads/master");
            repo.Branches.Update(repo.Head, b => b.Remote = "origin", b => b.UpstreamBranch = "refs/heads/master");
        }

        var result = await RollbackEngine.InvokeAsync(Request(git, "v2.3.0").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Push = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        using var remote = new Repository(remotePath);
        Assert.Equal(git.HeadSha, remote.Branches["master"].Tip.Sha);
    }

    [Fact]
    public async Task Push_without_an_upstream_is_refused_before_anything_changes()
    {
        using var git = new GitFixture().WithReleases();
        var head = git.HeadSha;

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git, "v2.3.0").WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Push = true }), git.Context()));

        Assert.Equal(ErrorIds.GitNoRemote, error.ErrorId);
        Assert.Equal(head, git.HeadSha);
    }

    [Fact]
    public async Task Tags_list_for_completion_newest_version_first()
    {
        using var git = new GitFixture().WithReleases();
        git.Tag("nightly");

        var tags = Engine.Git.GitSession.ListTags(git.RepoPath);

        Assert.Equal(new[] { "v2.3.1", "v2.3.0", "v2.2.0", "nightly" }, tags);
        await Task.CompletedTask;
    }
}
