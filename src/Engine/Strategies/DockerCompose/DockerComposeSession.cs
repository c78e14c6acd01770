// Docker's API models mark every member nullable; for listed containers the engine always fills them.
#pragma warning disable CS8601, CS8602, CS8604

using System.Globalization;
using System.Text.Json;
using DeploymentRollback.Engine.Docker;
using Docker.DotNet;
using Docker.DotNet.Models;
using YamlDotNet.RepresentationModel;

namespace DeploymentRollback.Engine.DockerCompose;

/// <summary>
/// Strategy A for Compose projects, which have no rollback of their own: bring the services back to the spec's
/// docker-compose.previous.yml, or to the configuration (with image ids pinned) captured when the project was last
/// verified good; only the named services with -Service. The real Compose CLI does the work; the engine API waits.
/// </summary>
public sealed class DockerComposeSession : IRollbackSession, IReadsLogs, IStartsToolEarly
{
    private const string StepUp = "ComposeUp";
    private const string StepWait = "WaitHealthy";
    private const string ProjectLabel = "com.docker.compose.project";
    private const string ServiceLabel = "com.docker.compose.service";
    private const string SnapshotOverride = "images.override.yml";
    private const string SnapshotConfig = "compose.config.yml";

    // The compose files the planned rollback applies (one strategy instance serves one invocation).
    private IReadOnlyList<string> targetFiles = Array.Empty<string>();

    // The project's own resolved configuration for the checkpoint, started by the plan beside the target's 'config' so
    // the two Compose starts overlap; the checkpoint takes it only if the project's files are as they were when it started.
    private readonly CancellationTokenSource background = new();
    private Task<ProcessRunResult>? projectConfig;
    private string? projectConfigFiles;

    // Compose v1's helper process: started by a rollback as the session opens, else by the first Compose command; shared by the rest.
    private readonly ToolHelperSlot helper = new();

    private readonly RollbackRequest request;
    private readonly EngineContext context;

    public DockerComposeSession(RollbackRequest request, EngineContext context)
    {
        this.request = request;
        this.context = context;
        Target = ResolveTarget(request);
    }

    public TargetIdentity Target { get; }

    private string Name => request.Strategy;

    private static DockerComposeTarget Of(RollbackRequest request) => request.DeploymentAs<DockerComposeTarget>();

    public async ValueTask DisposeAsync()
    {
        // A plan that was not carried out (-WhatIf, a "no", a skip) leaves no Compose process running.
        await background.CancelAsync().ConfigureAwait(false);
        if (projectConfig is not null)
        {
            try
            {
                await projectConfig.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Stopped, or failed: either way its result is no longer wanted.
            }
        }

        await helper.StopAsync().ConfigureAwait(false);

        background.Dispose();
    }

    private static TargetIdentity ResolveTarget(RollbackRequest request)
    {
        // The key holds the project name Compose uses, which depends on the CLI's version: detected once, then cached.
        var project = OpenAsync(request, CancellationToken.None).GetAwaiter().GetResult();
        return new TargetIdentity(project.Key, project.Folder);
    }

    public async Task<StrategyAssessment> AssessAsync()
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var services = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
        var errors = new List<string>();
        var logs = new List<string>();
        var facts = new Dictionary<string, string>(StringComparer.Ordinal);
        var failure = FailureType.Unknown;
        foreach (var (service, inspect) in services)
        {
            var problems = DockerEngine.DescribeProblems($"service {service}", inspect.State).ToList();
            errors.AddRange(problems);
            facts[service] = $"{inspect.State.Status}, health {inspect.State.Health?.Status ?? "none"}, image {inspect.Config.Image} ({Short(inspect.Image)}), exit code {inspect.State.ExitCode}, restarts {inspect.RestartCount}";
            if (problems.Count > 0)
            {
                logs.Add($"--- {service} ---\n" + RollbackEngine.Tail(await DockerEngine.LogTailAsync(client, inspect.ID, 20, context.Cancellation).ConfigureAwait(false), 20));
                var type = DockerEngine.Classify(inspect.State);
                failure = failure == FailureType.Unknown ? type : failure;
            }
        }

        var lastGood = context.State.Journal.GetVerified(project.Key, limit: 1).FirstOrDefault(v => v.Snapshot is not null);
        var previous = Of(request).PreviousFile;
        return new StrategyAssessment
        {
            CurrentVersion = Describe(services),
            LastGoodVersion = previous is not null ? $"previous file {previous}" : lastGood?.Version,
            LastGoodSource = previous is not null ? "-PreviousFile" : lastGood is null ? null : $"verified-good at {lastGood.RecordedAt:u}",
            AffectedComponents = services.Select(s => s.Service).ToList(),
            Errors = errors,
            LogExcerpts = logs,
            FailureType = failure,
            Facts = facts,
            Rationale = previous is null && lastGood is null
                ? "No verified-good configuration is recorded for this project; pass -PreviousFile with the previous compose file."
                : $"Bring {(Of(request).Services.Count > 0 ? "services " + string.Join(", ", Of(request).Services) : "the project")} back to {(previous ?? lastGood!.Version)} with '{project.Cli.DisplayName} up -d', leaving the other services untouched, then wait until they are healthy.",
        };
    }

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var services = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
        var config = await ProjectConfigAsync(project).ConfigureAwait(false);
        writer.AddText("compose.config.yml", config.ExitCode == 0 ? config.StandardOutput : "compose config failed:\n" + config.CombinedOutput);
        foreach (var (service, inspect) in services)
        {
            writer.AddText($"services/{service}/inspect.json", JsonSerializer.Serialize(inspect, IndentedJson.Options));
            var logs = $"services/{service}/logs.txt";
            try
            {
                var text = await DockerEngine.ReadLogsAsync(client, inspect.ID, 200, null, context.Cancellation).ConfigureAwait(false);
                // Only the services the rollback changes are its "before"; the others' logs are kept for the record.
                if (InScope(service))
                {
                    writer.AddLog(logs, text);
                }
                else
                {
                    writer.AddText(logs, text);
                }
            }
            catch (DockerApiException e)
            {
                writer.AddText(logs, $"(logs unavailable: {e.Message})");
            }

            writer.Details[$"{service}.image_id"] = inspect.Image;
        }

        writer.Details["project"] = project.Name;
        writer.Details["compose"] = project.Cli.DisplayName;
        return (Describe(services), null);
    }

    public async Task<RollbackPlan> PlanAsync()
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        projectConfigFiles = ProjectFilesStamp(project);
        projectConfig = RunProjectConfigAsync(project, background.Token);
        string targetFile;
        string targetName;
        if (Of(request).PreviousFile is { } previous)
        {
            targetFile = System.IO.Path.GetFullPath(previous, project.Folder);
            targetFiles = new[] { targetFile };
            if (!File.Exists(targetFile))
            {
                throw new RollbackException(ErrorIds.ComposeProjectNotFound, RollbackErrorKind.ObjectNotFound,
                    $"The previous compose file '{targetFile}' does not exist.")
                { TargetName = targetFile };
            }

            targetName = $"previous file {System.IO.Path.GetFileName(targetFile)}";
        }
        else
        {
            // A release snapshot of a plan names the state it recorded (request.Target, its services' images); otherwise the newest.
            var verified = context.State.Journal.GetVerified(project.Key, limit: 50).FirstOrDefault(v => (request.Target is null || v.Version == request.Target) && context.State.SnapshotFolder(v) is { } folder && File.Exists(System.IO.Path.Combine(folder, SnapshotOverride)))
                ?? throw new RollbackException(ErrorIds.ComposeTargetMissing, RollbackErrorKind.InvalidArgument,
                    request.Target is not null
                        ? $"No verified-good configuration of the project in {project.Folder} recorded as '{request.Target}' is kept any more. Roll back to a newer release, or pass -PreviousFile."
                        : $"No verified-good configuration is recorded for the project in {project.Folder}. Pass -PreviousFile with the previous compose file (the spec's docker-compose.previous.yml), or record a good state with Test-RollbackHealth -RecordVerified.")
                { TargetName = project.Key };
            // The project's own file (its configuration, with secrets from the environment as usual), images pinned to the verified ids.
            targetFile = System.IO.Path.Combine(context.State.SnapshotFolder(verified)!, SnapshotOverride);
            targetFiles = new[] { project.File, targetFile };
            targetName = verified.Version;
        }

        // One 'config' run (the CLI starts slowly) checks the target, names its services and their images.
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var wanted = await TargetImagesAsync(client, project, targetFiles, context.Cancellation).ConfigureAwait(false);
        var known = wanted.Keys.Order(StringComparer.Ordinal).ToList();
        var unknown = Of(request).Services.Where(s => !known.Contains(s)).ToList();
        if (unknown.Count > 0)
        {
            throw new RollbackException(ErrorIds.ComposeServiceNotFound, RollbackErrorKind.ObjectNotFound,
                $"No service {string.Join(", ", unknown)} in {System.IO.Path.GetFileName(targetFile)}. Its services: {string.Join(", ", known)}.")
            { TargetName = string.Join(",", unknown) };
        }

        var scope = Of(request).Services.Count > 0 ? Of(request).Services.ToList() : known;
        var running = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
        var alreadyThere = scope.All(service => running.Any(r => r.Service == service && wanted.TryGetValue(service, out var id) && id == r.Inspect.Image
            && r.Inspect.State.Running && r.Inspect.State.Health?.Status != "unhealthy"));

        var up = new List<string> { "up", "-d", "--no-deps" };
        up.AddRange(scope);
        return new RollbackPlan
        {
            Strategy = Name,
            TargetKey = project.Key,
            Path = project.Folder,
            FromVersion = Describe(running.Where(r => scope.Contains(r.Service)).ToList()),
            ToVersion = targetName,
            ToIdentity = targetFile,
            Changes = running.Where(r => scope.Contains(r.Service)).Select(r => $"{r.Service}: {r.Inspect.Config.Image} ({Short(r.Inspect.Image)})").ToList(),
            SkipReason = alreadyThere ? $"Services {string.Join(", ", scope)} already run the images of {targetName} and are not unhealthy." : null,
            Steps = new[]
            {
                new PlanStep { Order = 1, Action = StepUp, Target = string.Join(",", scope), Description = $"Run '{project.Cli.DisplayName} {string.Join(' ', targetFiles.Select(f => "-f " + f))} -p {project.Name} {string.Join(' ', up)}' (other services are not touched)" },
                new PlanStep { Order = 2, Action = StepWait, Target = string.Join(",", scope), Description = $"Wait up to {Of(request).Timeout.TotalSeconds:0} s for {string.Join(", ", scope)} to be running and healthy", Mutates = false },
            },
        };
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        var scope = step.Target.Split(',');
        var result = new StepResult { Name = $"{step.Action} {step.Target}", StartedAt = DateTimeOffset.UtcNow, Status = StepStatus.Succeeded };
        switch (step.Action)
        {
            case StepUp:
                var run = await ComposeAsync(project, targetFiles, new[] { "up", "-d", "--no-deps" }.Concat(scope), Of(request).Timeout, context.Cancellation).ConfigureAwait(false);
                result.Output = SecretRedactor.Redact(RollbackEngine.Tail(run.CombinedOutput, 40));
                if (run.ExitCode != 0)
                {
                    var portTaken = run.CombinedOutput.Contains("port is already allocated", StringComparison.OrdinalIgnoreCase) || run.CombinedOutput.Contains("address already in use", StringComparison.OrdinalIgnoreCase);
                    throw new RollbackException(portTaken ? ErrorIds.ContainerPortInUse : ErrorIds.ComposeCommandFailed, RollbackErrorKind.InvalidOperation,
                        $"'{project.Cli.DisplayName} up' failed (exit code {run.ExitCode}): {RollbackEngine.Tail(run.CombinedOutput, 5).Trim()}")
                    { TargetName = plan.TargetKey };
                }

                result.Message = $"Compose brought {step.Target} to {plan.ToVersion}.";
                break;
            case StepWait:
                using (var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false))
                {
                    var running = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
                    var problems = scope.Where(service => running.All(r => r.Service != service)).Select(service => $"service {service} has no container").ToList();

                    // Every container is waited for at once, so -Timeout bounds the whole wait, not each container's.
                    var waits = await Task.WhenAll(running.Where(r => scope.Contains(r.Service)).Select(r =>
                        DockerEngine.WaitHealthyAsync(client, r.Inspect.ID, $"service {r.Service}", Of(request).Timeout, context.Observer, context.Cancellation))).ConfigureAwait(false);
                    problems.AddRange(waits.OfType<string>());

                    result.Status = problems.Count == 0 ? StepStatus.Succeeded : StepStatus.Failed;
                    result.Message = problems.Count == 0 ? $"{step.Target}: running and healthy." : string.Join(" ", problems);
                }

                break;
            default:
                throw new InvalidOperationException($"Unknown compose step '{step.Action}'.");
        }

        result.Duration = DateTimeOffset.UtcNow - result.StartedAt;
        return result;
    }

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => Task.FromResult<StepResult?>(null);

    public async Task<VersionIdentity> GetCurrentVersionAsync()
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        // The target is the services named (-Service), else every service of the project: its plan's FromVersion says the same.
        var running = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
        var services = Of(request).Services;
        return (Describe(services.Count > 0 ? running.Where(r => services.Contains(r.Service)).ToList() : running), null);
    }

    /// <summary>The logs of the containers of the services the rollback changes (-Service, else every service), one source each.</summary>
    public async Task<LogSample?> ReadRecentLogsAsync(DateTimeOffset since, CancellationToken cancellation)
    {
        var project = await OpenAsync(request, cancellation).ConfigureAwait(false);
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, cancellation).ConfigureAwait(false);
        var running = (await ListServicesAsync(client, project.Name, cancellation).ConfigureAwait(false)).Where(r => InScope(r.Service)).Take(LogSample.MaxSources).ToList();
        if (running.Count == 0)
        {
            return null;
        }

        var lines = new List<string>();
        var capped = false;
        foreach (var (service, inspect) in running)
        {
            var (read, full) = await DockerEngine.ReadRecentLinesAsync(client, inspect.ID, since, cancellation).ConfigureAwait(false);
            lines.AddRange(read);
            capped |= full;
        }

        return new LogSample(lines, running.Select(r => $"service {r.Service} ({Short(r.Inspect.ID)[..12]})").ToList()) { Capped = capped };
    }

    private Task<ProcessRunResult> RunProjectConfigAsync(Project project, CancellationToken cancellation) =>
        ConfigAsync(project, Of(request).File is { } file ? new[] { file } : Array.Empty<string>(), cancellation);

    /// <summary>
    /// 'config' of the files (none: the project's own, as Compose finds them), or its answer kept from an earlier run
    /// when the files read nothing outside themselves and nothing in the key changed (ComposeConfigCache).
    /// </summary>
    private async Task<ProcessRunResult> ConfigAsync(Project project, IReadOnlyList<string> files, CancellationToken cancellation)
    {
        var full = files.Select(f => System.IO.Path.GetFullPath(f, project.Folder)).ToList();
        var entry = ComposeConfigCache.EntryPath(context.State.ToolCacheDirectory, project.Folder, project.Name, full);
        var version = await project.Cli.VersionTextAsync(await HelperAsync(project, cancellation).ConfigureAwait(false), project.Folder, cancellation).ConfigureAwait(false);
        var key = ComposeConfigCache.KeyOf(version, project.Folder, project.Name, full);
        if (key is not null && ComposeConfigCache.Load(entry, key) is { } kept)
        {
            return new ProcessRunResult(0, kept, "", TimeSpan.Zero, false);
        }

        var run = await ComposeAsync(project, files, new[] { "config" }, TimeSpan.FromMinutes(1), cancellation).ConfigureAwait(false);
        // Kept only when the files are still as they were keyed (not changed while Compose read them).
        if (key is not null && run.ExitCode == 0 && key == ComposeConfigCache.KeyOf(version, project.Folder, project.Name, full))
        {
            ComposeConfigCache.Save(entry, key, run.StandardOutput);
        }

        return run;
    }

    /// <summary>A Compose command in the project folder, through Compose v1's helper process when it can start (see ComposeCli.StartHelperAsync).</summary>
    private async Task<ProcessRunResult> ComposeAsync(Project project, IReadOnlyList<string> files, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellation) =>
        await project.Cli.RunAsync(await HelperAsync(project, cancellation).ConfigureAwait(false), project.Folder, files, project.Name, arguments, timeout, cancellation).ConfigureAwait(false);

    /// <summary>Compose v1's helper process, started by a rollback as the session opens, else by the first Compose command.</summary>
    private Task<ToolHelper?> HelperAsync(Project project, CancellationToken cancellation) => StartHelper(project).WaitAsync(cancellation);

    public void StartTool() => StartHelper(OpenAsync(request, context).GetAwaiter().GetResult());

    // Started with the invocation's cancellation, not a command's: the plan's background 'config' shares it.
    private Task<ToolHelper?> StartHelper(Project project) => helper.StartOnce(() => project.Cli.StartHelperAsync(project.Folder, context.Cancellation));

    /// <summary>The project's resolved configuration: the one the plan started when the files are unchanged since, else read now.</summary>
    private async Task<ProcessRunResult> ProjectConfigAsync(Project project)
    {
        if (projectConfig is { } started && projectConfigFiles == ProjectFilesStamp(project))
        {
            try
            {
                return await started.WaitAsync(context.Cancellation).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !context.Cancellation.IsCancellationRequested)
            {
                // Whatever stopped the early run, the checkpoint reads the configuration itself.
            }
        }

        return await RunProjectConfigAsync(project, context.Cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// Names, sizes and change times of what Compose reads for the project's own configuration: the files in its folder
    /// (the compose file, an override file, .env) and -File wherever it is.
    /// </summary>
    private static string ProjectFilesStamp(Project project)
    {
        var files = new DirectoryInfo(project.Folder).EnumerateFiles().Append(new FileInfo(project.File));
        return string.Join('\n', files.Select(f => $"{f.FullName}:{(f.Exists ? f.Length : -1)}:{(f.Exists ? f.LastWriteTimeUtc.Ticks : 0)}").Distinct().Order(StringComparer.Ordinal));
    }

    private bool InScope(string service) => Of(request).Services.Count == 0 || Of(request).Services.Contains(service);

    /// <summary>
    /// An override file pinning each running service to its image id (tags move; ids do not), plus the resolved
    /// configuration, redacted, for the record. The override is applied with the project's own file, so secrets stay
    /// where the project keeps them and never land in the state directory.
    /// </summary>
    public async Task<bool> CaptureVerifiedSnapshotAsync(string folder)
    {
        var project = await OpenAsync(request, context).ConfigureAwait(false);
        var config = await ComposeAsync(project, new[] { project.File }, new[] { "config" }, TimeSpan.FromMinutes(1), context.Cancellation).ConfigureAwait(false);
        if (config.ExitCode != 0)
        {
            throw new RollbackException(ErrorIds.ComposeFileInvalid, RollbackErrorKind.InvalidArgument, $"'{project.Cli.DisplayName} config' failed: {config.StandardError.Trim()}");
        }

        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotConfig), SecretRedactor.Redact(config.StandardOutput));
        using var client = await DockerEngine.ConnectAsync(Of(request).DockerHost, context.Cancellation).ConfigureAwait(false);
        var running = await ListServicesAsync(client, project.Name, context.Cancellation).ConfigureAwait(false);
        var yaml = new YamlStream();
        yaml.Load(new StringReader(config.StandardOutput));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var pins = new YamlMappingNode();
        if (root.Children.TryGetValue(new YamlScalarNode("services"), out var servicesNode) && servicesNode is YamlMappingNode services)
        {
            foreach (var key in services.Children.Keys.OfType<YamlScalarNode>())
            {
                if (running.FirstOrDefault(r => r.Service == key.Value).Inspect is { } inspect)
                {
                    pins.Add(key.Value!, new YamlMappingNode { { "image", inspect.Image } });
                }
            }
        }

        var document = new YamlMappingNode();
        if (root.Children.TryGetValue(new YamlScalarNode("version"), out var version))
        {
            // Compose v1 merges files only of the same format version.
            document.Add("version", new YamlScalarNode(((YamlScalarNode)version).Value) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted });
        }

        document.Add("services", pins);
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        new YamlStream(new YamlDocument(document)).Save(writer, assignAnchors: false);
        AtomicFile.WriteAllText(System.IO.Path.Combine(folder, SnapshotOverride), writer.ToString().Replace("...\n", ""));
        return true;
    }

    private sealed record Project(string Key, string Folder, string File, string Name, ComposeCli Cli);

    private Task<Project> OpenAsync(RollbackRequest request, EngineContext context) => OpenAsync(request, context.Cancellation);

    private static async Task<Project> OpenAsync(RollbackRequest request, CancellationToken cancellation)
    {
        var folder = System.IO.Path.GetFullPath(string.IsNullOrWhiteSpace(Of(request).Path) ? Environment.CurrentDirectory : Of(request).Path);
        if (!Directory.Exists(folder))
        {
            throw new RollbackException(ErrorIds.ComposeProjectNotFound, RollbackErrorKind.ObjectNotFound,
                $"The project folder '{folder}' does not exist. Pass -Path with the folder that holds the compose file.")
            { TargetName = folder };
        }

        var file = Of(request).File ?? new[] { "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml" }.FirstOrDefault(f => File.Exists(System.IO.Path.Combine(folder, f)));
        if (file is null || !File.Exists(System.IO.Path.GetFullPath(file, folder)))
        {
            throw new RollbackException(ErrorIds.ComposeProjectNotFound, RollbackErrorKind.ObjectNotFound,
                file is null ? $"No compose file (compose.yaml, docker-compose.yml) in {folder}. Pass -Path with the project folder, or -File." : $"The compose file '{file}' does not exist in {folder}.")
            { TargetName = file ?? folder };
        }

        var cli = (await ComposeCli.DetectAsync(cancellation).ConfigureAwait(false)).WithDockerHost(Of(request).DockerHost);
        var name = Of(request).ProjectName ?? Environment.GetEnvironmentVariable("COMPOSE_PROJECT_NAME") ?? cli.DefaultProjectName(folder);
        return new Project($"compose:{name}@{folder}", folder, System.IO.Path.GetFullPath(file, folder), name, cli);
    }

    private static async Task<List<(string Service, ContainerInspectResponse Inspect)>> ListServicesAsync(DockerClient client, string project, CancellationToken cancellation)
    {
        var list = await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{ProjectLabel}={project}"] = true } },
        }, cancellation).ConfigureAwait(false);
        var services = new List<(string, ContainerInspectResponse)>();
        foreach (var container in list.Where(c => c.Labels.TryGetValue("com.docker.compose.oneoff", out var oneoff) is false || oneoff != "True"))
        {
            services.Add((container.Labels[ServiceLabel], await client.Containers.InspectContainerAsync(container.ID, cancellation).ConfigureAwait(false)));
        }

        return services.OrderBy(s => s.Item1, StringComparer.Ordinal).ToList();
    }

    /// <summary>The target's services and the image id each should run ("" when it names no image, e.g. build only).</summary>
    private async Task<Dictionary<string, string>> TargetImagesAsync(DockerClient client, Project project, IReadOnlyList<string> files, CancellationToken cancellation)
    {
        var config = await ConfigAsync(project, files, cancellation).ConfigureAwait(false);
        if (config.ExitCode != 0)
        {
            throw new RollbackException(ErrorIds.ComposeFileInvalid, RollbackErrorKind.InvalidArgument,
                $"'{files[^1]}' is not a valid compose file: {config.StandardError.Trim()}")
            { TargetName = files[^1] };
        }

        var images = new Dictionary<string, string>(StringComparer.Ordinal);
        var yaml = new YamlStream();
        yaml.Load(new StringReader(config.StandardOutput));
        if (((YamlMappingNode)yaml.Documents[0].RootNode).Children.TryGetValue(new YamlScalarNode("services"), out var node) && node is YamlMappingNode services)
        {
            foreach (var (key, value) in services.Children)
            {
                images[((YamlScalarNode)key).Value!] = "";
                if (value is YamlMappingNode definition && definition.Children.TryGetValue(new YamlScalarNode("image"), out var image) && image is YamlScalarNode { Value: { } reference })
                {
                    try
                    {
                        images[((YamlScalarNode)key).Value!] = (await client.Images.InspectImageAsync(reference, cancellation).ConfigureAwait(false)).ID;
                    }
                    catch (DockerImageNotFoundException)
                    {
                        throw new RollbackException(ErrorIds.ContainerImageNotFound, RollbackErrorKind.ObjectNotFound,
                            $"Service {((YamlScalarNode)key).Value} needs the image '{reference}', which is not present on this engine, and the module never pulls (no registry may be reachable). Load it first (docker load).")
                        { TargetName = reference };
                    }
                }
            }
        }

        return images;
    }

    private static string Describe(IReadOnlyCollection<(string Service, ContainerInspectResponse Inspect)> services) =>
        services.Count == 0 ? "(no containers)" : string.Join(", ", services.Select(s => $"{s.Service}={s.Inspect.Config.Image}"));

    private static string Short(string id) => id.StartsWith("sha256:", StringComparison.Ordinal) ? id[7..19] : id;
}
