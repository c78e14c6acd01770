using System.Runtime.InteropServices;

namespace DeploymentRollback.Engine.Release;

/// <summary>
/// The release-folder layout Capistrano, Deployer and Ansistrano create: <c>releases/&lt;version&gt;/</c> folders and a
/// <c>current</c> symbolic link to the live one. The rollback points <c>current</c> at the last verified-good release
/// (else the release before the current one) by renaming a new link over it, so there is never a moment without it;
/// the failed release folder is kept.
/// </summary>
public sealed class ReleaseSession : IRollbackSession
{
    private const string StepSwitch = "SwitchCurrent";
    private const string ReleasesFolder = "releases";
    private const string CurrentLink = "current";

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public ReleaseSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static ReleaseTarget Of(RollbackRequest request) => request.DeploymentAs<ReleaseTarget>();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        if (OperatingSystem.IsWindows())
        {
            throw Layout("The Release strategy switches a symbolic link by rename, which needs Linux or macOS.", Of(request).Path);
        }

        var root = System.IO.Path.GetFullPath(Of(request).Path ?? Directory.GetCurrentDirectory());
        if (!Directory.Exists(System.IO.Path.Combine(root, ReleasesFolder)) || new FileInfo(System.IO.Path.Combine(root, CurrentLink)).LinkTarget is null)
        {
            throw Layout($"'{root}' is not a release layout: it needs a '{ReleasesFolder}' folder and a '{CurrentLink}' symbolic link into it. Pass -Path with the deploy folder (the one holding both).", root);
        }

        return new TargetIdentity("release:" + root, root);
    }

    public Task<StrategyAssessment> AssessAsync()
    {
        var target = Target;
        var current = Current(target.Location);
        var lastGood = FindLastGood(context, target, current);
        var releases = Releases(target.Location);
        return Task.FromResult(new StrategyAssessment
        {
            CurrentVersion = current,
            LastGoodVersion = lastGood?.Version,
            LastGoodSource = lastGood?.Source,
            AffectedComponents = new[] { System.IO.Path.Combine(target.Location, CurrentLink) },
            Changes = releases.Select(r => (r == current ? "* " : "  ") + r).Reverse().Take(20).ToList(),
            Rationale = lastGood is null
                ? $"No release other than {current} is verified good or older than it."
                : $"Point {CurrentLink} back at {lastGood.Version} ({lastGood.Source}), keeping {current}, then restart and verify.",
            Facts = new Dictionary<string, string> { ["current"] = current ?? "(dangling)", ["releases"] = releases.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        });
    }

    public Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var target = Target;
        var current = Current(target.Location);
        writer.AddText("releases.txt", string.Join('\n', Releases(target.Location)) + "\n");
        writer.Details["current"] = current ?? "(dangling)";
        writer.Details["link"] = new FileInfo(System.IO.Path.Combine(target.Location, CurrentLink)).LinkTarget ?? "";
        return Task.FromResult<VersionIdentity>((current, null));
    }

    public Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        var current = Current(target.Location);
        string to;
        string source;
        if (request.Target is { } wanted)
        {
            to = Releases(target.Location).Contains(wanted, StringComparer.Ordinal)
                ? wanted
                : throw new RollbackException(ReleaseErrorIds.NotFound, RollbackErrorKind.ObjectNotFound,
                    $"There is no release folder '{wanted}' in {System.IO.Path.Combine(target.Location, ReleasesFolder)}. Releases: {string.Join(", ", Releases(target.Location).TakeLast(10))}.")
                { TargetName = wanted };
            source = "-Target";
        }
        else
        {
            var found = FindLastGood(context, target, current) ?? throw new RollbackException(ReleaseErrorIds.TargetMissing, RollbackErrorKind.InvalidOperation,
                $"No release to go back to: none is recorded verified-good and none is older than {current}. Pass -Target with a release folder's name.")
            { TargetName = target.Key };
            (to, source) = (found.Version, found.Source);
        }

        return Task.FromResult(new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = current,
            ToVersion = to,
            Changes = new[] { $"{CurrentLink}: {current} -> {to}" },
            SkipReason = current == to ? $"{CurrentLink} already points at {to}." : null,
            Steps = new[]
            {
                new PlanStep
                {
                    Order = 1, Action = StepSwitch, Target = to,
                    Description = $"Point {System.IO.Path.Combine(target.Location, CurrentLink)} at {ReleasesFolder}/{to} ({source}; now {current}, which is kept)",
                },
            },
        });
    }

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var started = DateTimeOffset.UtcNow;
        Switch(plan.Path, plan.ToVersion!);
        return Task.FromResult(new StepResult
        {
            Name = $"{step.Action} {step.Target}",
            StartedAt = started,
            Duration = DateTimeOffset.UtcNow - started,
            Status = StepStatus.Succeeded,
            Message = $"{CurrentLink} now points at {ReleasesFolder}/{plan.ToVersion} (was {plan.FromVersion}, kept).",
        });
    }

    /// <summary>A rollback that is not verified points current back at the release it found there.</summary>
    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified)
    {
        if (verified || plan.FromVersion is null || Current(plan.Path) == plan.FromVersion)
        {
            return Task.FromResult<StepResult?>(null);
        }

        var started = DateTimeOffset.UtcNow;
        Switch(plan.Path, plan.FromVersion);
        return Task.FromResult<StepResult?>(new StepResult
        {
            Name = $"Undo {StepSwitch}",
            StartedAt = started,
            Duration = DateTimeOffset.UtcNow - started,
            Status = StepStatus.Succeeded,
            Message = $"The rollback was not verified: {CurrentLink} points at {plan.FromVersion} again.",
        });
    }

    public Task<VersionIdentity> GetCurrentVersionAsync() =>
        Task.FromResult<VersionIdentity>((Current(Target.Location), null));

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    /// <summary>The release folder current points at, or null when the link dangles.</summary>
    private static string? Current(string root)
    {
        var link = new FileInfo(System.IO.Path.Combine(root, CurrentLink)).LinkTarget;
        if (link is null)
        {
            return null;
        }

        var resolved = System.IO.Path.GetFullPath(link, root);
        return Directory.Exists(resolved) ? System.IO.Path.GetFileName(resolved.TrimEnd('/')) : null;
    }

    /// <summary>Release folder names, oldest first: in version order (timestamps and versions sort as numbers), else by creation time.</summary>
    private static List<string> Releases(string root) =>
        new DirectoryInfo(System.IO.Path.Combine(root, ReleasesFolder)).EnumerateDirectories()
            .Select(d => (d.Name, Version: VersionTag.TryParse(d.Name), d.CreationTimeUtc))
            .OrderBy(r => r.Version is null ? 1 : 0).ThenBy(r => r.Version).ThenBy(r => r.CreationTimeUtc).ThenBy(r => r.Name, StringComparer.Ordinal)
            .Select(r => r.Name).ToList();

    /// <summary>The default target, by the last-good rule (see LastGoodRule).</summary>
    private LastGood? FindLastGood(EngineContext context, TargetIdentity target, string? current) =>
        LastGoodRule.Find(context.State.Journal, target.Key, request.Strategy, new Versions(Releases(target.Location), current));

    /// <summary>Versions are release folders, pinned by their name; the fallback is the release before current in version order.</summary>
    private sealed class Versions(List<string> releases, string? current) : ILastGoodHooks
    {
        public string? Locate(string version, string? recordedIdentity) => releases.Contains(version) ? version : null;

        public bool IsCurrent(string identity) => identity == current;

        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom)
        {
            var index = current is null ? releases.Count : releases.IndexOf(current);
            var previous = releases.Take(Math.Max(0, index)).LastOrDefault(r => !rolledBackFrom.Contains(r));
            return previous is null ? null : new LastGood(previous, previous, "the release before " + (current ?? "the dangling link"));
        }
    }

    /// <summary>A new link beside current, renamed over it: rename(2) replaces the link atomically, so readers always find one.</summary>
    private static void Switch(string root, string release)
    {
        var current = System.IO.Path.Combine(root, CurrentLink);
        var temp = System.IO.Path.Combine(root, $".{CurrentLink}.{Guid.NewGuid():N}.tmp");
        File.CreateSymbolicLink(temp, System.IO.Path.Combine(ReleasesFolder, release));
        if (Rename(temp, current) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            File.Delete(temp);
            throw new RollbackException(ReleaseErrorIds.SwitchFailed, RollbackErrorKind.WriteError,
                $"'{current}' could not be replaced by a link to {ReleasesFolder}/{release} (rename failed, errno {errno}); it still points where it did. Check that the deploy folder is writable.")
            { TargetName = current };
        }
    }

    private static RollbackException Layout(string message, string? path) =>
        new(ReleaseErrorIds.LayoutInvalid, RollbackErrorKind.InvalidArgument, message) { TargetName = path };

    // .NET's File.Move refuses a link to a folder, and Directory.Move will not replace: rename(2) itself does both.
    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string oldPath, string newPath);
}
