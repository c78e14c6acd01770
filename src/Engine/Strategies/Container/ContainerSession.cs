using System.Globalization;
using System.Text.Json;
// Docker's API models mark every member nullable; for an existing container the engine always fills State and
// Config, so these files do not repeat null checks the engine's contract makes pointless.
#pragma warning disable CS8601, CS8602, CS8604

using Docker.DotNet;
using Docker.DotNet.Models;
using DeploymentRollback.Engine.Docker;

namespace DeploymentRollback.Engine.Container;

/// <summary>
/// Strategy A for a single container: recreate it from the verified-good image with the same configuration,
/// keeping the failed container (stopped, renamed) until the new one is verified.
/// </summary>
public sealed class ContainerSession : IRollbackSession, IReadsLogs
{
    private const string StepReplace = "StopAndKeep";
    private const string StepCreate = "Create";
    private const string StepStart = "Start";
    private const string StepWait = "WaitHealthy";
    internal const string VersionSeen = "VersionSeen";

    // State between the steps of one rollback (one strategy instance serves one invocation).
    private string? failedName;
    private string? originalId;
    private bool originalWasRunning;
    private string? newId;

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public ContainerSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static ContainerTarget Of(RollbackRequest request) => request.DeploymentAs<ContainerTarget>();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        if (string.IsNullOrWhiteSpace(Of(request).Name))
        {
            throw new RollbackException(ErrorIds.ContainerNameMissing, RollbackErrorKind.InvalidArgument,
                "The Container strategy needs -Name with the container's name (see 'docker ps -a').");
        }

        var name = Of(request).Name.TrimStart('/');
        // The key is journaled and shown: an engine address's user:password@ stays out of it (one engine, one key).
        return new TargetIdentity(Of(request).DockerHost is not { } host ? $"container:{name}"
            : $"container:{name}@{(Uri.TryCreate(host, UriKind.Absolute, out var address) ? UrlCredentials.WithoutUserInfo(address).OriginalString : host)}", name);
    }

    public async Task<StrategyAssessment> AssessAsync()
    {
        var target = Target;
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var inspect = await DockerEngine.InspectContainerAsync(client, target.Location, context.Cancellation).ConfigureAwait(false);
        RecordSeen(context, target.Key, inspect);
        var lastGood = FindLastGood(context, target.Key, inspect.Image);
        var logs = await DockerEngine.LogTailAsync(client, inspect.ID, 50, context.Cancellation).ConfigureAwait(false);
        var errors = DockerEngine.DescribeProblems(target.Location, inspect.State).ToList();
        var state = inspect.State;
        return new StrategyAssessment
        {
            CurrentVersion = inspect.Config.Image,
            CurrentIdentity = inspect.Image,
            LastGoodVersion = lastGood?.Version,
            LastGoodSource = lastGood?.Source,
            AffectedComponents = new[] { target.Location },
            Errors = errors,
            LogExcerpts = string.IsNullOrWhiteSpace(logs) ? Array.Empty<string>() : new[] { RollbackEngine.Tail(logs, 30) },
            FailureType = DockerEngine.Classify(state),
            Facts = new Dictionary<string, string>
            {
                ["state"] = state.Status,
                ["exit_code"] = state.ExitCode.ToString(CultureInfo.InvariantCulture),
                ["oom_killed"] = state.OOMKilled.ToString(),
                ["restart_count"] = inspect.RestartCount.ToString(CultureInfo.InvariantCulture),
                ["health"] = state.Health?.Status ?? "none",
                ["image"] = inspect.Config.Image,
                ["image_id"] = inspect.Image,
            },
            Rationale = lastGood is null
                ? "No verified-good or earlier image is recorded for this container; pass -Target with a local image to recreate it from."
                : $"Recreate the container from {lastGood.Value.Version} ({lastGood.Value.Source}) with its current configuration; the failed container is kept until the new one is verified.",
        };
    }

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var target = Target;
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var inspect = await DockerEngine.InspectContainerAsync(client, target.Location, context.Cancellation).ConfigureAwait(false);
        RecordSeen(context, target.Key, inspect);
        writer.AddText("inspect.json", JsonSerializer.Serialize(inspect, IndentedJson.Options));
        try
        {
            writer.AddLog("logs.txt", await DockerEngine.ReadLogsAsync(client, inspect.ID, 200, null, context.Cancellation).ConfigureAwait(false));
        }
        catch (DockerApiException e)
        {
            writer.AddText("logs.txt", $"(logs unavailable: {e.Message})");
        }

        writer.Details["container_id"] = inspect.ID;
        writer.Details["image"] = inspect.Config.Image;
        writer.Details["image_id"] = inspect.Image;
        writer.Details["state"] = inspect.State.Status;
        writer.Details["health"] = inspect.State.Health?.Status ?? "none";
        return (inspect.Config.Image, inspect.Image);
    }

    public async Task<RollbackPlan> PlanAsync()
    {
        var target = Target;
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var inspect = await DockerEngine.InspectContainerAsync(client, target.Location, context.Cancellation).ConfigureAwait(false);
        RecordSeen(context, target.Key, inspect);
        string targetImage;
        if (request.Target is { Length: > 0 } requested)
        {
            targetImage = requested;
        }
        else
        {
            var lastGood = FindLastGood(context, target.Key, inspect.Image) ?? throw new RollbackException(ErrorIds.ContainerTargetMissing, RollbackErrorKind.InvalidArgument,
                $"No verified-good or earlier image is recorded for container '{target.Location}'. Pass -Target with a local image (see 'docker images').")
            { TargetName = target.Key };

            // The recorded id is what was verified; its tag is used only while it still names that id (tags move).
            targetImage = lastGood.Reference;
            try
            {
                if ((await client.Images.InspectImageAsync(lastGood.Version, context.Cancellation).ConfigureAwait(false)).ID == lastGood.Reference)
                {
                    targetImage = lastGood.Version;
                }
            }
            catch (DockerImageNotFoundException)
            {
            }
        }

        var image = await DockerEngine.InspectImageAsync(client, targetImage, context.Cancellation).ConfigureAwait(false);
        var plan = new RollbackPlan
        {
            Strategy = Name,
            TargetKey = target.Key,
            Path = target.Location,
            FromVersion = inspect.Config.Image,
            FromIdentity = inspect.Image,
            ToVersion = targetImage,
            ToIdentity = image.ID,
            Changes = new[] { $"{inspect.Config.Image} ({Short(inspect.Image)})" },
            SkipReason = image.ID == inspect.Image && inspect.State.Running && inspect.State.Health?.Status != "unhealthy"
                ? $"Container '{target.Location}' already runs {targetImage} ({Short(image.ID)})."
                : null,
            Steps = new[]
            {
                new PlanStep { Order = 1, Action = StepReplace, Target = target.Location, Description = $"Stop container '{target.Location}' ({inspect.Config.Image}) and keep it as '{target.Location}-failed-<time>' until the new one is verified" },
                new PlanStep { Order = 2, Action = StepCreate, Target = target.Location, Description = $"Create '{target.Location}' from {targetImage} ({Short(image.ID)}) with the same environment, ports, mounts, networks, restart policy and limits" },
                new PlanStep { Order = 3, Action = StepStart, Target = target.Location, Description = $"Start the new '{target.Location}'" },
                new PlanStep { Order = 4, Action = StepWait, Target = target.Location, Description = $"Wait up to {Of(request).Timeout.TotalSeconds:0} s for it to be running and healthy", Mutates = false },
            },
        };
        return plan;
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var result = new StepResult { Name = $"{step.Action} {step.Target}", StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var name = plan.Path;
        switch (step.Action)
        {
            case StepReplace:
                var old = await DockerEngine.InspectContainerAsync(client, name, context.Cancellation).ConfigureAwait(false);
                originalId = old.ID;
                originalWasRunning = old.State.Running || old.State.Restarting;
                failedName = $"{name}-failed-{DateTimeOffset.UtcNow:yyyyMMddHHmmss}";
                await client.Containers.StopContainerAsync(old.ID, new ContainerStopParameters { WaitBeforeKillSeconds = 10 }, context.Cancellation).ConfigureAwait(false);
                await client.Containers.RenameContainerAsync(old.ID, new ContainerRenameParameters { NewName = failedName }, context.Cancellation).ConfigureAwait(false);
                result.Message = $"Stopped and kept as '{failedName}'.";
                break;
            case StepCreate:
                var failed = await client.Containers.InspectContainerAsync(originalId!, context.Cancellation).ConfigureAwait(false);
                var parameters = await ContainerRecreation.BuildAsync(client, failed, name, plan.ToVersion!, context.Cancellation).ConfigureAwait(false);
                var created = await client.Containers.CreateContainerAsync(parameters.Create, context.Cancellation).ConfigureAwait(false);
                newId = created.ID;
                foreach (var (network, endpoint) in parameters.ExtraNetworks)
                {
                    await client.Networks.ConnectNetworkAsync(network, new NetworkConnectParameters { Container = newId, EndpointConfig = endpoint }, context.Cancellation).ConfigureAwait(false);
                }

                result.Message = $"Created {Short(newId)} from {plan.ToVersion}.";
                break;
            case StepStart:
                try
                {
                    await client.Containers.StartContainerAsync(newId!, new ContainerStartParameters(), context.Cancellation).ConfigureAwait(false);
                }
                catch (DockerApiException e) when (e.Message.Contains("port is already allocated", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    throw new RollbackException(ErrorIds.ContainerPortInUse, RollbackErrorKind.ResourceBusy,
                        $"The new '{name}' cannot start: a port it publishes is taken by another process or container ({e.Message.Trim()}). Free the port; the failed container is put back.", e)
                    { TargetName = name };
                }

                result.Message = $"Started {Short(newId!)}.";
                break;
            case StepWait:
                var problem = await DockerEngine.WaitHealthyAsync(client, newId!, $"the new '{name}'", Of(request).Timeout, context.Observer, context.Cancellation).ConfigureAwait(false);
                if (problem is not null)
                {
                    result.Status = StepStatus.Failed;
                    result.Message = problem;
                    result.Output = await DockerEngine.LogTailAsync(client, newId!, 30, context.Cancellation).ConfigureAwait(false);
                }
                else
                {
                    result.Message = "Running and healthy.";
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown container step '{step.Action}'.");
        }

        result.Duration = DateTimeOffset.UtcNow - result.StartedAt;
        return result;
    }

    public async Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified)
    {
        if (originalId is null)
        {
            return null;
        }

        var step = new StepResult { StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, CancellationToken.None).ConfigureAwait(false);
        if (verified)
        {
            step.Name = $"RemoveFailed {failedName}";
            if (Of(request).KeepFailed)
            {
                step.Status = StepStatus.Skipped;
                step.Message = $"Kept the failed container as '{failedName}' (-KeepFailed).";
            }
            else
            {
                await client.Containers.RemoveContainerAsync(originalId, new ContainerRemoveParameters { Force = true }, CancellationToken.None).ConfigureAwait(false);
                step.Message = $"Removed the failed container '{failedName}' (its state is in the checkpoint).";
            }
        }
        else
        {
            // Put the service back as it was: the new container goes (its state is kept in the step output), the failed one returns.
            step.Name = $"Restore {plan.Path}";
            if (newId is not null)
            {
                var attempted = await client.Containers.InspectContainerAsync(newId, CancellationToken.None).ConfigureAwait(false);
                step.Output = $"The new container's final state: {attempted.State.Status}, exit code {attempted.State.ExitCode}, health {attempted.State.Health?.Status ?? "none"}.\n"
                    + await DockerEngine.LogTailAsync(client, newId, 30, CancellationToken.None).ConfigureAwait(false);
                await client.Containers.RemoveContainerAsync(newId, new ContainerRemoveParameters { Force = true }, CancellationToken.None).ConfigureAwait(false);
            }

            await client.Containers.RenameContainerAsync(originalId, new ContainerRenameParameters { NewName = plan.Path }, CancellationToken.None).ConfigureAwait(false);
            if (originalWasRunning)
            {
                await client.Containers.StartContainerAsync(originalId, new ContainerStartParameters(), CancellationToken.None).ConfigureAwait(false);
            }

            step.Message = $"The rollback did not verify, so '{plan.Path}' was put back as it was ({plan.FromVersion}{(originalWasRunning ? ", restarted" : "")}).";
        }

        step.Duration = DateTimeOffset.UtcNow - step.StartedAt;
        return step;
    }

    public async Task<VersionIdentity> GetCurrentVersionAsync()
    {
        var target = Target;
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var inspect = await DockerEngine.InspectContainerAsync(client, target.Location, context.Cancellation).ConfigureAwait(false);
        RecordSeen(context, target.Key, inspect);
        return (inspect.Config.Image, inspect.Image);
    }

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    /// <summary>The logs of the container that now has the target's name (after a rollback, the one it created).</summary>
    public async Task<LogSample?> ReadRecentLogsAsync(DateTimeOffset since, CancellationToken cancellation)
    {
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, cancellation).ConfigureAwait(false);
        ContainerInspectResponse inspect;
        try
        {
            inspect = await client.Containers.InspectContainerAsync(Target.Location, cancellation).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }

        var (lines, capped) = await DockerEngine.ReadRecentLinesAsync(client, inspect.ID, since, cancellation).ConfigureAwait(false);
        return new LogSample(lines, new[] { $"container {Target.Location} ({Short(inspect.ID)})" }) { Capped = capped };
    }

    /// <summary>Every image a container is seen running is journaled, so "the image it ran before" is known later.</summary>
    private static void RecordSeen(EngineContext context, string targetKey, ContainerInspectResponse inspect)
    {
        var detail = $"{inspect.Config.Image}|{inspect.Image}";
        var last = context.State.Journal.GetEvents(targetKey).LastOrDefault(e => e.Kind == VersionSeen);
        if (last?.Detail != detail)
        {
            context.State.Journal.AddEvent(new JournalEvent(targetKey, null, DateTimeOffset.UtcNow, VersionSeen, detail));
        }
    }

    /// <summary>The default target, by the last-good rule (see LastGoodRule); Reference prefers the image id: tags move.</summary>
    private (string Version, string Reference, string Source)? FindLastGood(EngineContext context, string targetKey, string currentImageId)
    {
        var seen = context.State.Journal.GetEvents(targetKey).Where(e => e.Kind == VersionSeen).Select(e => e.Detail.Split('|')).Where(p => p.Length == 2)
            .Select(p => (Reference: p[0], Id: p[1])).ToList();
        return LastGoodRule.Find(context.State.Journal, targetKey, request.Strategy, new Versions(seen, currentImageId)) is { } found
            ? (found.Version, found.Identity ?? found.Version, found.Source)
            : null;
    }

    /// <summary>
    /// Versions are image references, pinned by image id as the module saw them on the container (its VersionSeen
    /// events); the fallback is the image the container ran before the current one.
    /// </summary>
    private sealed class Versions(List<(string Reference, string Id)> seen, string currentImageId) : ILastGoodHooks
    {
        // A verified record carries its id; an attempt's target is mapped through what was seen (an unseen one is not known to be there).
        public string? Locate(string version, string? recordedIdentity) =>
            recordedIdentity ?? seen.LastOrDefault(s => s.Reference == version || s.Id == version) switch
            {
                { Id: { } id } => id,
                _ => null,
            };

        public bool IsCurrent(string identity) => identity == currentImageId;

        public LastGood? Fallback(IReadOnlySet<string> rolledBackFrom) =>
            seen.AsEnumerable().Reverse().FirstOrDefault(s => s.Id != currentImageId && !rolledBackFrom.Contains(s.Reference)) is { Id: not null } before
                ? new LastGood(before.Reference, before.Id, "the image it ran before")
                : null;
    }

    private static string Short(string id) => id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..19] : id.Length > 12 ? id[..12] : id;
}
