using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine.DockerCompose;

/// <summary>The real Compose CLI: `docker compose` (v2) or `docker-compose` (v1), whichever is present, detected once.</summary>
internal sealed partial class ComposeCli
{
    private static readonly SemaphoreSlim DetectLock = new(1, 1);
    private static ComposeCli? detected;

    // What the detected CLI's 'version' printed: at detection, or (a v1 that is a Python script) when first asked.
    private static string? versionText;
    // The two 'config's of a first rollback ask at once: the second waits for the first's answer instead of asking again.
    private static readonly SemaphoreSlim VersionLock = new(1, 1);

    private ComposeCli(string fileName, IReadOnlyList<string> prefix, int majorVersion)
    {
        FileName = fileName;
        Prefix = prefix;
        MajorVersion = majorVersion;
    }

    public string FileName { get; }
    public IReadOnlyList<string> Prefix { get; }
    public int MajorVersion { get; }

    public string DisplayName => string.Join(' ', new[] { FileName }.Concat(Prefix));

    public static async Task<ComposeCli> DetectAsync(CancellationToken cancellation)
    {
        await DetectLock.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (detected is not null)
            {
                return detected;
            }

            foreach (var candidate in new[] { new ComposeCli("docker", new[] { "compose" }, 2), new ComposeCli("docker-compose", Array.Empty<string>(), 1) })
            {
                if (candidate.MajorVersion == 1 && ToolHelper.PythonInterpreter(candidate.FileName) is not null)
                {
                    // Compose v2 is a Go binary, so a docker-compose that is a Python script is v1. Its 'version' alone is a
                    // 0.6 s Python start; the session's helper, started anyway, answers it (VersionTextAsync).
                    return detected = candidate;
                }

                try
                {
                    var run = await ProcessRunner.RunAsync(new ProcessRequest(candidate.FileName, candidate.Prefix.Concat(new[] { "version" }).ToList()) { Timeout = TimeSpan.FromSeconds(20) }, cancellation).ConfigureAwait(false);
                    if (run.ExitCode == 0)
                    {
                        versionText = run.StandardOutput;
                        return detected = candidate;
                    }
                }
                catch (System.ComponentModel.Win32Exception)
                {
                    // Not installed: try the next one.
                }
            }

            throw new RollbackException(ErrorIds.ComposeNotInstalled, RollbackErrorKind.ObjectNotFound,
                "Neither 'docker compose' (Compose v2) nor 'docker-compose' (v1) is installed. Install one of them (e.g. apt-get install docker-compose).");
        }
        finally
        {
            DetectLock.Release();
        }
    }

    /// <summary>The project name Compose itself would use for a folder, by its own version's rules.</summary>
    public string DefaultProjectName(string folder)
    {
        var name = Path.GetFileName(folder.TrimEnd(Path.DirectorySeparatorChar)).ToLowerInvariant();
        return MajorVersion == 1 ? V1Invalid().Replace(name, "") : V2Invalid().Replace(name, "");
    }

    [GeneratedRegex("[^a-z0-9]")]
    private static partial Regex V1Invalid();

    [GeneratedRegex("[^a-z0-9_-]")]
    private static partial Regex V2Invalid();

    /// <summary>The engine address every Compose run uses (-DockerHost), so the CLI and the API talk to the same engine.</summary>
    public string? DockerHost { get; init; }

    public ComposeCli WithDockerHost(string? host) => host is null ? this : new ComposeCli(FileName, Prefix, MajorVersion) { DockerHost = host };

    /// <summary>
    /// What 'version' prints (the Compose version and, for v1, the docker-py and Python under it; part of the key of a
    /// kept 'config' answer): from detection, else asked once per process of the helper, else of the CLI itself. A v1
    /// that cannot say it (Compose not importable, its interpreter gone) is reported here, before anything changes.
    /// </summary>
    public async Task<string> VersionTextAsync(ToolHelper? helper, string workingDirectory, CancellationToken cancellation)
    {
        if (Volatile.Read(ref versionText) is { } known)
        {
            return known;
        }

        await VersionLock.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            return versionText ?? (versionText = await AskVersionAsync(helper, workingDirectory, cancellation).ConfigureAwait(false));
        }
        finally
        {
            VersionLock.Release();
        }
    }

    private async Task<string> AskVersionAsync(ToolHelper? helper, string workingDirectory, CancellationToken cancellation)
    {
        ProcessRunResult run;
        try
        {
            run = helper is { Alive: true }
                ? await helper.RunAsync(new JsonObject { ["command"] = new JsonArray("version") }, TimeSpan.FromSeconds(20), cancellation).ConfigureAwait(false)
                : await ProcessRunner.RunAsync(new ProcessRequest(FileName, Prefix.Append("version").ToList()) { WorkingDirectory = workingDirectory, Timeout = TimeSpan.FromSeconds(20), Environment = Environment() }, cancellation).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            run = new ProcessRunResult(-1, "", e.Message, TimeSpan.Zero, false);
        }

        if (run.ExitCode != 0)
        {
            // The last line of a Python traceback is the error itself.
            var error = run.StandardError.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            throw new RollbackException(ErrorIds.ComposeNotInstalled, RollbackErrorKind.ObjectNotFound,
                $"'{DisplayName}' is installed but does not run ('{DisplayName} version' {(run.TimedOut ? "did not answer in 20 s" : $"failed with exit code {run.ExitCode}")}{(error is null ? "" : ": " + error)}). Repair it (e.g. apt-get install --reinstall docker-compose) or install Compose v2.");
        }

        return run.StandardOutput;
    }

    /// <summary>
    /// Compose v1's helper process (compose_helper.py) under the interpreter docker-compose runs under, started in the
    /// project folder: one Python start for every command of a rollback. Null for v2 (a native binary, quick to start),
    /// for a v1 that is not a Python script (the standalone build), or when Compose cannot be imported that way.
    /// </summary>
    public async Task<ToolHelper?> StartHelperAsync(string workingDirectory, CancellationToken cancellation)
    {
        if (MajorVersion != 1 || ToolHelper.PythonInterpreter(FileName) is not { } python)
        {
            return null;
        }

        return (await ToolHelper.StartAsync(python, new[] { "-c" }, "compose_helper.py", workingDirectory, Environment(), cancellation).ConfigureAwait(false)).Helper;
    }

    /// <summary>A Compose command on the files (none: the project's own) in the project folder: through the helper while it runs, else as its own process.</summary>
    public async Task<ProcessRunResult> RunAsync(ToolHelper? helper, string workingDirectory, IReadOnlyList<string> files, string project, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellation)
    {
        var all = new List<string>();
        foreach (var file in files)
        {
            all.Add("-f");
            all.Add(file);
        }

        all.Add("-p");
        all.Add(project);
        all.AddRange(arguments);
        if (helper is { Alive: true })
        {
            return await helper.RunAsync(new JsonObject { ["command"] = new JsonArray(all.Select(a => (JsonNode?)a).ToArray()) }, timeout, cancellation).ConfigureAwait(false);
        }

        return await ProcessRunner.RunAsync(new ProcessRequest(FileName, Prefix.Concat(all).ToList()) { WorkingDirectory = workingDirectory, Timeout = timeout, Environment = Environment() }, cancellation).ConfigureAwait(false);
    }

    private Dictionary<string, string>? Environment() => DockerHost is null ? null : new Dictionary<string, string> { ["DOCKER_HOST"] = DockerHost };
}
