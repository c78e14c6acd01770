using System.Text;
using LibGit2Sharp;

namespace DeploymentRollback.Engine.Git;

/// <summary>
/// Strategy B: put a repository back at a verified-good version, by checkout (working tree at the target)
/// or by revert commits (history kept), through LibGit2Sharp.
/// </summary>
public sealed class GitSession : IRollbackSession
{
    private const string StepStash = "Stash";
    private const string StepCheckout = "Checkout";
    private const string StepCompleteCheckout = "CompleteCheckout";
    private const string StepRevert = "Revert";
    private const string StepPush = "Push";

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public GitSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static GitTarget Of(RollbackRequest request) => request.DeploymentAs<GitTarget>();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        using var repo = OpenRepository(Of(request).Path);
        var location = WorkingDirectory(repo);
        return new TargetIdentity(TargetKeyFor(location), location);
    }

    public static string TargetKeyFor(string workingDirectory) => "git:" + workingDirectory;

    public Task<StrategyAssessment> AssessAsync()
    {
        using var repo = OpenRepository(Of(request).Path);
        var head = HeadCommit(repo);
        var tags = TagIndex.Read(repo);
        var current = tags.Describe(repo, head);
        var lastGood = FindLastGood(repo, tags, head, current, context.State);
        var changes = lastGood.Commit is null ? new List<string>() : CommitsBetween(repo, lastGood.Commit, head, limit: 50);
        var dirty = IsDirty(repo);
        var rationale = lastGood.Version is null
            ? "No verified-good version is recorded and no earlier release tag exists; pass -Target with the version to go back to."
            : $"Roll back the code to {lastGood.Version} ({lastGood.Source}) with a checkout" +
              (changes.Count > 0 ? $", undoing {changes.Count} commit(s) since it" : "") +
              (dirty ? "; the working tree has uncommitted changes, which -Force stashes into the checkpoint first." : ".");
        return Task.FromResult(new StrategyAssessment
        {
            CurrentVersion = current,
            CurrentIdentity = head.Sha,
            LastGoodVersion = lastGood.Version,
            LastGoodSource = lastGood.Source,
            Changes = changes,
            AffectedComponents = new[] { WorkingDirectory(repo) },
            HasUncommittedChanges = dirty,
            Rationale = rationale,
        });
    }

    public Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        using var repo = OpenRepository(Of(request).Path);
        var head = HeadCommit(repo);
        var tags = TagIndex.Read(repo);
        var version = tags.Describe(repo, head);
        writer.Details["head"] = head.Sha;
        writer.Details["branch"] = repo.Info.IsHeadDetached ? "(detached)" : repo.Head.FriendlyName;
        writer.Details["version"] = version;
        var remote = repo.Head.RemoteName is { } remoteName ? repo.Network.Remotes[remoteName] : repo.Network.Remotes.FirstOrDefault();
        if (remote is not null)
        {
            writer.Details["remote"] = remote.Url;
        }

        var status = repo.RetrieveStatus(new StatusOptions { IncludeUntracked = true, RecurseUntrackedDirs = true });
        var statusText = new StringBuilder();
        foreach (var entry in status.Where(e => e.State != FileStatus.Ignored))
        {
            statusText.Append(entry.State).Append('\t').Append(entry.FilePath).Append('\n');
        }

        writer.AddText("git-status.txt", statusText.Length == 0 ? "clean\n" : statusText.ToString());
        writer.AddText("git-log.txt", string.Join('\n', CommitsBetween(repo, null, head, limit: 50)) + "\n");
        if (status.IsDirty)
        {
            var patch = repo.Diff.Compare<Patch>(head.Tree, DiffTargets.Index | DiffTargets.WorkingDirectory);
            writer.AddText("uncommitted.patch", patch.Content);
            writer.Details["uncommitted_files"] = status.Count(e => e.State != FileStatus.Ignored).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Task.FromResult<VersionIdentity>((version, head.Sha));
    }

    public Task<RollbackPlan> PlanAsync()
    {
        using var repo = OpenRepository(Of(request).Path);
        var head = HeadCommit(repo);
        var tags = TagIndex.Read(repo);
        var current = tags.Describe(repo, head);
        var location = WorkingDirectory(repo);
        var targetKey = TargetKeyFor(location);

        string targetName;
        Commit target;
        if (request.Target is { Length: > 0 } requested)
        {
            target = ResolveCommit(repo, requested, tags) ?? throw TargetNotFound(requested, tags);
            targetName = requested;
        }
        else
        {
            var lastGood = FindLastGood(repo, tags, head, current, context.State);
            if (lastGood.Commit is null)
            {
                throw new RollbackException(ErrorIds.GitTargetMissing, RollbackErrorKind.InvalidArgument,
                    $"No verified-good version is recorded for {location} and no earlier release tag exists. Pass -Target with a tag, branch or commit to roll back to.")
                { TargetName = targetKey };
            }

            target = lastGood.Commit;
            targetName = lastGood.Version!;
        }

        var steps = new List<PlanStep>();
        string? skip = null;
        RefuseIfIndexLocked(repo, location, targetKey);
        var dirty = IsDirty(repo);
        if (Of(request).Mode == GitRollbackMode.Checkout)
        {
            if (head.Sha == target.Sha)
            {
                skip = $"HEAD is already at {targetName} ({Short(target)}).";
            }
            else if (dirty && InterruptedCheckoutOf(repo, head, target, context.State.Journal, targetKey) is { } interrupted)
            {
                steps.Add(new PlanStep
                {
                    Action = StepCompleteCheckout, Target = location,
                    Description = $"Complete the checkout of {targetName} ({Short(target)}) that attempt {interrupted} left half done (every uncommitted change is part of it); HEAD becomes detached at the target",
                });
            }
            else
            {
                RefuseIfDirty(dirty, request, location);
                if (dirty)
                {
                    steps.Add(new PlanStep { Action = StepStash, Target = location, Description = "Stash the uncommitted changes (including untracked files); the stash is recorded in the checkpoint" });
                }

                steps.Add(new PlanStep { Action = StepCheckout, Target = location, Description = $"Check out {targetName} ({Short(target)}) in place of {current} ({Short(head)}); HEAD becomes detached at the target" });
            }
        }
        else
        {
            if (repo.Info.IsHeadDetached)
            {
                throw new RollbackException(ErrorIds.GitHeadDetached, RollbackErrorKind.InvalidOperation,
                    $"HEAD in {location} is detached, so revert commits would belong to no branch. Check out the deployed branch first, or use -Mode Checkout.")
                { TargetName = targetKey };
            }

            // With -Push, the branch must not be behind its remote: revert commits made on an outdated branch could not be pushed.
            var unpushed = Of(request).Push ? FetchAndCountUnpushed(repo, request, location, targetKey) : 0;
            var toRevert = CommitsToRevert(repo, request, head, target);
            if (toRevert.Count == 0 || head.Tree.Sha == target.Tree.Sha && Of(request).Commits.Count == 0)
            {
                // A rerun after a rejected push still has the reverts to push.
                if (unpushed == 0)
                {
                    skip = Of(request).Commits.Count > 0
                        ? "Every commit named by -Commit is already reverted on this branch."
                        : $"The branch already matches {targetName} ({Short(target)}): nothing to revert.";
                }
            }
            else
            {
                RefuseIfDirty(dirty, request, location);
                if (dirty)
                {
                    steps.Add(new PlanStep { Action = StepStash, Target = location, Description = "Stash the uncommitted changes (including untracked files); the stash is recorded in the checkpoint" });
                }

                foreach (var commit in toRevert)
                {
                    steps.Add(new PlanStep { Action = StepRevert, Target = commit.Sha, Description = $"Add a commit on {repo.Head.FriendlyName} that reverts {Short(commit)} \"{commit.MessageShort}\"" });
                }
            }

            if (Of(request).Push && skip is null)
            {
                var branch = repo.Head;
                var pending = steps.Count(s => s.Action == StepRevert) + unpushed;
                steps.Add(new PlanStep { Action = StepPush, Target = branch.RemoteName, Description = $"Push {branch.FriendlyName} ({pending} commit(s) not yet on the remote) to {branch.RemoteName}/{branch.TrackedBranch.FriendlyName.Split('/', 2).Last()}" });
            }
        }

        for (var i = 0; i < steps.Count; i++)
        {
            steps[i] = new PlanStep { Order = i + 1, Action = steps[i].Action, Target = steps[i].Target, Description = steps[i].Description, Mutates = steps[i].Mutates };
        }

        return Task.FromResult(new RollbackPlan
        {
            Changes = Of(request).Mode == GitRollbackMode.Revert && Of(request).Commits.Count > 0
                ? steps.Where(s => s.Action == StepRevert).Select(s => $"{s.Target[..7]} {repo.Lookup<Commit>(s.Target).MessageShort}").ToList()
                : CommitsBetween(repo, target, head, limit: 50),
            Strategy = Name,
            TargetKey = targetKey,
            Path = location,
            FromVersion = current,
            FromIdentity = head.Sha,
            ToVersion = targetName,
            ToIdentity = target.Sha,
            SkipReason = skip,
            Steps = steps,
        });
    }

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        using var repo = OpenRepository(plan.Path);
        var result = new StepResult { Name = $"{step.Action} {step.Target}", StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        switch (step.Action)
        {
            case StepStash:
                var stash = repo.Stashes.Add(Signature(repo), $"DeploymentRollback checkpoint {checkpoint.Name}", StashModifiers.IncludeUntracked);
                if (stash is null)
                {
                    result.Status = StepStatus.Skipped;
                    result.Message = "Nothing to stash.";
                    break;
                }

                var note = $"Uncommitted changes were stashed as {stash.WorkTree.Sha} ({stash.Message}).\nRestore them with: git stash apply {stash.WorkTree.Sha}\n";
                AtomicFile.WriteAllText(System.IO.Path.Combine(checkpoint.Folder, "stash.txt"), note);
                result.Message = $"Stashed as {stash.WorkTree.Sha[..10]}; restore with 'git stash apply {stash.WorkTree.Sha}'.";
                break;
            case StepCheckout:
                Commands.Checkout(repo, repo.Lookup<Commit>(plan.ToIdentity!), new CheckoutOptions { CheckoutModifiers = CheckoutModifiers.None });
                result.Message = $"HEAD is now at {plan.ToVersion} ({plan.ToIdentity![..10]}).";
                break;
            case StepCompleteCheckout:
                // Forced: the plan proved every uncommitted change is the interrupted checkout's own work.
                Commands.Checkout(repo, repo.Lookup<Commit>(plan.ToIdentity!), new CheckoutOptions { CheckoutModifiers = CheckoutModifiers.Force });
                result.Message = $"Completed the interrupted checkout: HEAD is now at {plan.ToVersion} ({plan.ToIdentity![..10]}).";
                break;
            case StepRevert:
                var commit = repo.Lookup<Commit>(step.Target);
                var originalHead = repo.Head.Tip;
                var revert = repo.Revert(commit, Signature(repo), new RevertOptions { Mainline = commit.Parents.Count() > 1 ? 1 : 0, CommitOnSuccess = true });
                if (revert.Status == RevertStatus.Conflicts)
                {
                    var conflicts = repo.Index.Conflicts.Select(c => (c.Ours ?? c.Theirs ?? c.Ancestor).Path).Distinct().ToList();
                    repo.Reset(ResetMode.Hard, originalHead);
                    throw new RollbackException(ErrorIds.GitRevertConflict, RollbackErrorKind.InvalidOperation,
                        $"Reverting {Short(commit)} conflicts in {string.Join(", ", conflicts)}; the branch was reset to {Short(originalHead)}. Resolve it by hand (git revert {commit.Sha}), or use -Mode Checkout.")
                    { TargetName = plan.TargetKey };
                }

                result.Message = revert.Status == RevertStatus.NothingToRevert ? $"{Short(commit)} was already undone." : $"Reverted {Short(commit)} in {Short(revert.Commit)}.";
                if (revert.Status == RevertStatus.NothingToRevert)
                {
                    result.Status = StepStatus.Skipped;
                }

                break;
            case StepPush:
                var options = new PushOptions();
                if (Of(request).UserName is not null)
                {
                    options.CredentialsProvider = (_, _, _) => new UsernamePasswordCredentials { Username = Of(request).UserName, Password = Of(request).Password ?? "" };
                }

                try
                {
                    repo.Network.Push(repo.Head, options);
                }
                catch (LibGit2SharpException e)
                {
                    throw new RollbackException(ErrorIds.GitPushFailed, RollbackErrorKind.ConnectionError,
                        $"The revert commits were made locally but the push to {step.Target} failed: {SecretRedactor.Redact(e.Message)}. Push by hand with 'git push', or fix the credentials (-Credential) and run again.", e)
                    { TargetName = plan.TargetKey };
                }

                result.Message = $"Pushed {repo.Head.FriendlyName} to {step.Target}.";
                break;
            default:
                throw new InvalidOperationException($"Unknown Git step '{step.Action}'.");
        }

        result.Duration = DateTimeOffset.UtcNow - result.StartedAt;
        return Task.FromResult(result);
    }

    public Task<VersionIdentity> GetCurrentVersionAsync()
    {
        using var repo = OpenRepository(Of(request).Path);
        var head = HeadCommit(repo);
        return Task.FromResult<VersionIdentity>((TagIndex.Read(repo).Describe(repo, head), head.Sha));
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    /// <summary>Tag names for tab completion, newest version first.</summary>
    public static IReadOnlyList<string> ListTags(string? path)
    {
        using var repo = OpenRepository(path);
        return TagIndex.Read(repo).ByVersionDescending.Select(t => t.Name)
            .Concat(repo.Tags.Select(t => t.FriendlyName).Where(n => VersionTag.TryParse(n) is null).Order(StringComparer.Ordinal))
            .ToList();
    }

    internal static Repository OpenRepository(string? path)
    {
        var start = System.IO.Path.GetFullPath(string.IsNullOrWhiteSpace(path) ? Environment.CurrentDirectory : path);
        var found = Directory.Exists(start) ? Repository.Discover(start) : null;
        if (found is null)
        {
            throw new RollbackException(ErrorIds.GitRepositoryNotFound, RollbackErrorKind.ObjectNotFound,
                $"'{start}' is not inside a git repository. Pass -Path with the folder of the deployed repository.")
            { TargetName = start };
        }

        var repo = new Repository(found);
        if (repo.Info.IsBare)
        {
            repo.Dispose();
            throw new RollbackException(ErrorIds.GitRepositoryNotFound, RollbackErrorKind.InvalidArgument,
                $"'{start}' is a bare repository: it has no working tree to roll back. Pass -Path with the deployed clone.")
            { TargetName = start };
        }

        return repo;
    }

    private static Commit HeadCommit(Repository repo) => repo.Head.Tip ?? throw new RollbackException(ErrorIds.GitRepositoryEmpty, RollbackErrorKind.InvalidOperation,
        $"The repository at {repo.Info.WorkingDirectory} has no commits yet, so there is nothing to roll back.");

    private static bool IsDirty(Repository repo) => repo.RetrieveStatus(new StatusOptions { IncludeUntracked = true, RecurseUntrackedDirs = false }).IsDirty;

    /// <summary>
    /// The id of the interrupted attempt whose checkout of target left the working tree as it is, or null. It is, when
    /// that attempt (the target's newest) was starting the checkout of target from HEAD when its process ended, and every
    /// uncommitted change is a file the checkout changes, now holding the target's content (or the start of it, for the
    /// file being written when the process died; or removed, if the target lacks it). Any other change, such as an edit
    /// on top, is the user's work and stays refused or stashed.
    /// </summary>
    private static string? InterruptedCheckoutOf(Repository repo, Commit head, Commit target, Journal journal, string targetKey)
    {
        if (journal.GetAttempts(targetKey, limit: 20).FirstOrDefault(a => a.Strategy == "Git") is not { Outcome: RollbackOutcome.Interrupted } attempt
            || InterruptedAttempts.LastStepStarted(journal, attempt) is not { Step: StepCheckout or StepCompleteCheckout } started || started.ToCommit != target.Sha)
        {
            return null;
        }

        var workingDirectory = repo.Info.WorkingDirectory;
        var status = repo.RetrieveStatus(new StatusOptions { IncludeUntracked = true, RecurseUntrackedDirs = true });
        foreach (var entry in status.Where(e => e.State != FileStatus.Ignored))
        {
            var before = head.Tree[entry.FilePath]?.Target.Sha;
            var after = target.Tree[entry.FilePath]?.Target.Sha;
            var file = System.IO.Path.Combine(workingDirectory, entry.FilePath);
            if (before == after || (File.Exists(file) ? BlobSha(file) != after && !IsPartialWrite(repo, file, after) : after is not null))
            {
                return null;
            }
        }

        return attempt.AttemptId;
    }

    /// <summary>The file the checkout was writing when its process died holds the start of the target's content.</summary>
    private static bool IsPartialWrite(Repository repo, string file, string? blobSha)
    {
        if (blobSha is null || repo.Lookup<Blob>(blobSha) is not { } blob)
        {
            return false;
        }

        var written = File.ReadAllBytes(file);
        using var content = blob.GetContentStream();
        var expected = new byte[written.Length];
        return written.Length < blob.Size && content.ReadAtLeast(expected, written.Length, throwOnEndOfStream: false) == written.Length && expected.AsSpan().SequenceEqual(written);
    }

    /// <summary>The id git gives a file's content, computed without writing to the repository.</summary>
    private static string BlobSha(string file)
    {
        var content = File.ReadAllBytes(file);
        var header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(header.Concat(content).ToArray())).ToLowerInvariant();
    }

    /// <summary>
    /// Fetches the branch's remote and returns how many local commits it lacks. Refuses when the branch tracks no remote
    /// branch, the fetch fails, or the remote has commits the branch lacks (someone pushed since the deployment).
    /// </summary>
    private static int FetchAndCountUnpushed(Repository repo, RollbackRequest request, string location, string targetKey)
    {
        var branch = repo.Head;
        if (!branch.IsTracking || branch.RemoteName is null)
        {
            throw new RollbackException(ErrorIds.GitNoRemote, RollbackErrorKind.InvalidOperation,
                $"-Push was given but branch '{branch.FriendlyName}' in {location} tracks no remote branch. Set one with 'git branch --set-upstream-to', or leave out -Push.")
            { TargetName = targetKey };
        }

        var remote = repo.Network.Remotes[branch.RemoteName];
        var options = new FetchOptions();
        if (Of(request).UserName is not null)
        {
            options.CredentialsProvider = (_, _, _) => new UsernamePasswordCredentials { Username = Of(request).UserName, Password = Of(request).Password ?? "" };
        }

        try
        {
            Commands.Fetch(repo, remote.Name, remote.FetchRefSpecs.Select(r => r.Specification), options, null);
        }
        catch (LibGit2SharpException e)
        {
            throw new RollbackException(ErrorIds.GitFetchFailed, RollbackErrorKind.ConnectionError,
                $"-Push was given, but fetching {remote.Name} to check that '{branch.FriendlyName}' is not behind it failed: {SecretRedactor.Redact(e.Message)}. Fix the network or the credentials (-Credential) and run again, or leave out -Push to revert locally only.", e)
            { TargetName = targetKey };
        }

        var tracking = repo.Head.TrackingDetails;
        if (tracking.BehindBy is > 0)
        {
            throw new RollbackException(ErrorIds.GitBranchBehind, RollbackErrorKind.InvalidOperation,
                $"'{branch.FriendlyName}' in {location} is {tracking.BehindBy} commit(s) behind {branch.TrackedBranch.FriendlyName}: someone pushed since this deployment, so revert commits made now could not be pushed. Nothing was changed. Bring the branch up to date (git pull --rebase) and run again, or leave out -Push to revert locally only.")
            { TargetName = targetKey };
        }

        return tracking.AheadBy ?? 0;
    }

    /// <summary>
    /// git's index.lock: another git command is running here, or one died and left it. A checkout would then update the
    /// files but not the index (half a rollback, which the rerun takes for the user's changes), so nothing starts.
    /// </summary>
    private static void RefuseIfIndexLocked(Repository repo, string location, string targetKey)
    {
        var lockFile = System.IO.Path.Combine(repo.Info.Path, "index.lock");
        if (File.Exists(lockFile))
        {
            throw new RollbackException(ErrorIds.GitIndexLocked, RollbackErrorKind.ResourceBusy,
                $"The repository at {location} is locked by '{lockFile}': another git command is running there, or one was stopped and left the file. Nothing was changed. Wait for it to finish; if no git process runs, delete the file and run again.")
            { TargetName = targetKey };
        }
    }

    private static void RefuseIfDirty(bool dirty, RollbackRequest request, string location)
    {
        if (dirty && !request.Force)
        {
            throw new RollbackException(ErrorIds.GitWorkingTreeDirty, RollbackErrorKind.InvalidOperation,
                $"The working tree at {location} has uncommitted changes. Commit or stash them, or pass -Force to have them stashed (and recorded in the checkpoint) before the rollback.")
            { TargetName = TargetKeyFor(location) };
        }
    }

    /// <summary>The default target, by the last-good rule (see LastGoodRule), with Git's answers to its questions.</summary>
    private (string? Version, Commit? Commit, string? Source) FindLastGood(Repository repo, TagIndex tags, Commit head, string current, StateRoot state)
    {
        var found = LastGoodRule.Find(state.Journal, TargetKeyFor(WorkingDirectory(repo)), request.Strategy, new Versions(repo, tags, head, current));
        if (found is { PassedOver.Count: > 0 })
        {
            context.Observer.Warning($"The newer verified-good version(s) {string.Join(", ", found.PassedOver)} of {WorkingDirectory(repo)} can no longer be found (a deleted branch or tag, a garbage-collected commit); {found.Version} ({found.Source}) is taken instead. Pass -Target to choose another.");
        }

        return found is null ? (null, null, null) : (found.Version, repo.Lookup<Commit>(found.Identity!), found.Source);
    }

    /// <summary>Versions are tags, branches or commits, pinned by commit; the fallback is the release tag before HEAD.</summary>
    private sealed class Versions(Repository repo, TagIndex tags, Commit head, string current) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) =>
            ((recordedIdentity is null ? null : repo.Lookup<Commit>(recordedIdentity)) ?? ResolveCommit(repo, version, tags))?.Sha;

        public bool IsCurrent(string identity) => identity == head.Sha;

        // A rerun takes up an attempt that started where HEAD is (a half-done or failed checkout), or whose revert commits left HEAD at its tree.
        public bool Resumes(RollbackResult attempt) =>
            attempt.FromVersion == current || (attempt.ToVersion is { } to && ResolveCommit(repo, to, tags)?.Tree.Sha == head.Tree.Sha);

        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) =>
            tags.PreviousRelease(head, current, rolledBackFrom) is { } previous ? new LastGood(previous.Tag.Name, previous.Commit.Sha, "previous release tag") : null;
    }

    private static Commit? ResolveCommit(Repository repo, string name, TagIndex tags)
    {
        if (tags.TryGetCommit(name, out var tagged))
        {
            return tagged;
        }

        try
        {
            return repo.Lookup(name) switch
            {
                Commit commit => commit,
                TagAnnotation annotation => annotation.Target.Peel<Commit>(),
                _ => repo.Branches[name]?.Tip,
            };
        }
        catch (Exception e) when (e is LibGit2SharpException or ArgumentException)
        {
            return null;
        }
    }

    private static RollbackException TargetNotFound(string requested, TagIndex tags)
    {
        var nearest = tags.Nearest(requested, 5);
        var hint = nearest.Count > 0 ? $" The nearest tags are: {string.Join(", ", nearest)}." : " The repository has no tags.";
        return new RollbackException(ErrorIds.GitTargetNotFound, RollbackErrorKind.ObjectNotFound,
            $"'{requested}' is not a tag, branch or commit in this repository.{hint}")
        { TargetName = requested };
    }

    private static List<Commit> CommitsToRevert(Repository repo, RollbackRequest request, Commit head, Commit target)
    {
        var since = repo.Commits.QueryBy(new CommitFilter { IncludeReachableFrom = head, ExcludeReachableFrom = target, SortBy = CommitSortStrategies.Topological }).ToList();
        var alreadyReverted = since.Select(c => RevertedSha(c.Message)).Where(s => s is not null).ToHashSet(StringComparer.Ordinal);
        if (Of(request).Commits.Count == 0)
        {
            // Commits that revert, or were reverted by, a later commit in the range cancel out.
            var revertCommits = since.Where(c => RevertedSha(c.Message) is not null).Select(c => c.Sha).ToHashSet(StringComparer.Ordinal);
            return since.Where(c => !alreadyReverted.Contains(c.Sha) && !revertCommits.Contains(c.Sha)).ToList();
        }

        var named = new List<Commit>();
        foreach (var name in Of(request).Commits)
        {
            var commit = ResolveCommit(repo, name, TagIndex.Empty) ?? throw new RollbackException(ErrorIds.GitCommitNotFound, RollbackErrorKind.ObjectNotFound,
                $"-Commit '{name}' is not a commit in this repository. Name commits by their id (see 'git log --oneline').")
            { TargetName = name };
            if (!repo.ObjectDatabase.FindMergeBase(commit, head)?.Sha.Equals(commit.Sha, StringComparison.Ordinal) ?? true)
            {
                throw new RollbackException(ErrorIds.GitCommitNotFound, RollbackErrorKind.InvalidArgument,
                    $"-Commit '{name}' ({Short(commit)}) is not on the current branch, so there is nothing of it to revert.")
                { TargetName = name };
            }

            if (!alreadyReverted.Contains(commit.Sha))
            {
                named.Add(commit);
            }
        }

        // Newest first, as git revert expects for a range.
        var order = since.Select((c, i) => (c.Sha, i)).ToDictionary(p => p.Sha, p => p.i, StringComparer.Ordinal);
        return named.DistinctBy(c => c.Sha).OrderBy(c => order.GetValueOrDefault(c.Sha, int.MaxValue)).ToList();
    }

    private static string? RevertedSha(string message)
    {
        const string marker = "This reverts commit ";
        var index = message.IndexOf(marker, StringComparison.Ordinal);
        if (index < 0)
        {
            return null;
        }

        var sha = new string(message.AsSpan(index + marker.Length).ToArray().TakeWhile(Uri.IsHexDigit).ToArray());
        return sha.Length == 40 ? sha : null;
    }

    private static List<string> CommitsBetween(Repository repo, Commit? from, Commit to, int limit)
    {
        var filter = new CommitFilter { IncludeReachableFrom = to, SortBy = CommitSortStrategies.None };
        if (from is not null)
        {
            filter.ExcludeReachableFrom = from;
        }

        return repo.Commits.QueryBy(filter).Take(limit).Select(c => $"{Short(c)} {c.MessageShort}").ToList();
    }

    private static LibGit2Sharp.Signature Signature(Repository repo) =>
        repo.Config.BuildSignature(DateTimeOffset.Now) ?? new LibGit2Sharp.Signature("DeploymentRollback", "deployment-rollback@localhost", DateTimeOffset.Now);

    private static string Short(Commit commit) => commit.Sha[..7];

    private static string WorkingDirectory(Repository repo) => repo.Info.WorkingDirectory.TrimEnd(System.IO.Path.DirectorySeparatorChar);
}
