// Docker's API models mark every member nullable; for an existing container the engine always fills State and
// Config, so these files do not repeat null checks the engine's contract makes pointless.
#pragma warning disable CS8601, CS8602, CS8604

using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace DeploymentRollback.Engine.Docker;

/// <summary>Connects to a Docker engine (API version negotiated, never pinned) and waits for containers to be healthy.</summary>
internal static class DockerEngine
{
    public static Uri ResolveEndpoint(string? host)
    {
        var text = host ?? Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (string.IsNullOrWhiteSpace(text))
        {
            return new Uri(OperatingSystem.IsWindows() ? "npipe://./pipe/docker_engine" : "unix:///var/run/docker.sock");
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var uri)
            ? uri
            : throw new RollbackException(ErrorIds.DockerEngineUnreachable, RollbackErrorKind.InvalidArgument,
                $"'{SecretRedactor.Redact(text)}' is not a Docker engine address. Use unix:///var/run/docker.sock, npipe://./pipe/docker_engine or tcp://host:2375.");
    }

    public static async Task<DockerClient> ConnectAsync(string? host, CancellationToken cancellation)
    {
        var endpoint = ResolveEndpoint(host);
        var client = new DockerClientBuilder().WithEndpoint(endpoint).Build();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await client.System.PingAsync(timeout.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            client.Dispose();
            throw new RollbackException(ErrorIds.DockerEngineUnreachable, RollbackErrorKind.ConnectionError,
                $"The Docker engine at {UrlCredentials.Describe(endpoint)} does not answer ({(e is OperationCanceledException ? "no answer within 10 s" : SecretRedactor.Redact(e.Message))}). Start it (dockerd, Docker Desktop) or pass -DockerHost with its address.", e)
            { TargetName = UrlCredentials.Describe(endpoint) };
        }
    }

    public static async Task<ContainerInspectResponse> InspectContainerAsync(DockerClient client, string name, CancellationToken cancellation)
    {
        try
        {
            return await client.Containers.InspectContainerAsync(name, cancellation).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            var all = await client.Containers.ListContainersAsync(new ContainersListParameters { All = true }, cancellation).ConfigureAwait(false);
            var names = all.SelectMany(c => c.Names).Select(n => n.TrimStart('/')).Order(StringComparer.Ordinal).Take(10).ToList();
            throw new RollbackException(ErrorIds.ContainerNotFound, RollbackErrorKind.ObjectNotFound,
                $"No container named '{name}' exists on this engine." + (names.Count > 0 ? $" Containers here: {string.Join(", ", names)}." : " The engine has no containers."))
            { TargetName = name };
        }
    }

    public static async Task<ImageInspectResponse> InspectImageAsync(DockerClient client, string image, CancellationToken cancellation)
    {
        try
        {
            return await client.Images.InspectImageAsync(image, cancellation).ConfigureAwait(false);
        }
        catch (DockerImageNotFoundException)
        {
            throw new RollbackException(ErrorIds.ContainerImageNotFound, RollbackErrorKind.ObjectNotFound,
                $"The image '{image}' is not present on this engine, and the module never pulls (no registry may be reachable during an incident). Load it first (docker load, or docker pull where a registry is reachable), or name an image listed by 'docker images'.")
            { TargetName = image };
        }
    }

    public static async Task<string> LogTailAsync(DockerClient client, string id, int lines, CancellationToken cancellation)
    {
        try
        {
            return await ReadLogsAsync(client, id, lines, null, cancellation).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            return $"(logs unavailable: {e.Message})";
        }
    }

    /// <summary>The container's last lines (stdout, then stderr), only those written since a time when given; throws when the engine refuses.</summary>
    public static async Task<string> ReadLogsAsync(DockerClient client, string id, int lines, DateTimeOffset? since, CancellationToken cancellation)
    {
        var parameters = new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = lines.ToString(CultureInfo.InvariantCulture), Timestamps = false };
        if (since is { } from)
        {
            // Seconds since the epoch and nanoseconds, as the docker CLI sends them; the engine compares them with its own clock.
            parameters.Since = string.Create(CultureInfo.InvariantCulture, $"{from.ToUnixTimeSeconds()}.{from.UtcTicks % TimeSpan.TicksPerSecond * 100:D9}");
        }

        using var stream = await client.Containers.GetContainerLogsAsync(id, parameters, cancellation).ConfigureAwait(false);
        var (stdout, stderr) = await stream.ReadOutputToEndAsync(cancellation).ConfigureAwait(false);
        return stdout.Length == 0 || stdout.EndsWith('\n') ? stdout + stderr : stdout + "\n" + stderr;
    }

    /// <summary>A container's logs since a time as a sample's lines: its newest, at most LogSample.MaxLinesPerSource.</summary>
    public static async Task<(IReadOnlyList<string> Lines, bool Capped)> ReadRecentLinesAsync(DockerClient client, string id, DateTimeOffset since, CancellationToken cancellation)
    {
        var text = await ReadLogsAsync(client, id, LogSample.MaxLinesPerSource, since, cancellation).ConfigureAwait(false);
        var lines = LogSample.Split(text);
        return (lines, lines.Count >= LogSample.MaxLinesPerSource);
    }

    /// <summary>
    /// Waits until the container runs and is healthy (its HEALTHCHECK), or has run for a few seconds when it has none.
    /// Returns null when healthy, else why not.
    /// </summary>
    public static async Task<string?> WaitHealthyAsync(DockerClient client, string id, string label, TimeSpan timeout, IRollbackObserver observer, CancellationToken cancellation)
    {
        var activity = $"Waiting for {label} to be healthy";
        var started = DateTimeOffset.UtcNow;
        var runningSince = (DateTimeOffset?)null;
        try
        {
            while (true)
            {
                var inspect = await client.Containers.InspectContainerAsync(id, cancellation).ConfigureAwait(false);
                var state = inspect.State;
                var elapsed = DateTimeOffset.UtcNow - started;
                var health = state.Health?.Status;
                observer.Progress(new ProgressUpdate(activity, $"{state.Status}{(health is null ? "" : ", " + health)} after {elapsed.TotalSeconds:0} s",
                    (int)Math.Min(99, 100 * elapsed.TotalMilliseconds / timeout.TotalMilliseconds), (int)(timeout - elapsed).TotalSeconds));
                if (health == "healthy")
                {
                    return null;
                }

                if (health == "unhealthy")
                {
                    var last = state.Health!.Log?.LastOrDefault();
                    return $"{label} is unhealthy: its health check failed (exit code {last?.ExitCode}: {last?.Output?.Trim()}).";
                }

                if (!state.Running && !state.Restarting)
                {
                    return $"{label} stopped (exit code {state.ExitCode}{(state.OOMKilled ? ", killed for lack of memory" : "")}{(string.IsNullOrEmpty(state.Error) ? "" : ": " + state.Error)}).";
                }

                if (state.Running && health is null)
                {
                    runningSince ??= DateTimeOffset.UtcNow;
                    if (DateTimeOffset.UtcNow - runningSince > TimeSpan.FromSeconds(2))
                    {
                        return null;
                    }
                }

                if (elapsed > timeout)
                {
                    return $"{label} was not healthy within {timeout.TotalSeconds:0} s (status {state.Status}{(health is null ? "" : ", health " + health)}).";
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellation).ConfigureAwait(false);
            }
        }
        finally
        {
            observer.Progress(new ProgressUpdate(activity, "Done", Completed: true));
        }
    }

    /// <summary>The failure type a container's state shows.</summary>
    public static FailureType Classify(State state) =>
        state.Health?.Status == "unhealthy" ? FailureType.HealthCheckFailed
        : state.Restarting || (!state.Running && state.ExitCode != 0) || state.OOMKilled ? FailureType.DeploymentNeverCompleted
        : FailureType.Unknown;

    public static IEnumerable<string> DescribeProblems(string label, State state)
    {
        if (state.OOMKilled)
        {
            yield return $"{label} was killed for lack of memory (OOM).";
        }

        if (!state.Running && state.ExitCode != 0)
        {
            yield return $"{label} exited with code {state.ExitCode}{(string.IsNullOrEmpty(state.Error) ? "" : ": " + state.Error)}.";
        }

        if (state.Restarting)
        {
            yield return $"{label} is restarting (crash loop).";
        }

        if (state.Health?.Status == "unhealthy")
        {
            foreach (var probe in state.Health.Log?.Where(l => l.ExitCode != 0).TakeLast(3) ?? Enumerable.Empty<HealthcheckResult>())
            {
                yield return $"{label} health check failed at {probe.Start:u} (exit code {probe.ExitCode}): {probe.Output?.Trim()}";
            }
        }
    }
}
