using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Docker;

public static class DockerHost
{
    private static readonly Lazy<(bool Available, string Reason)> Probe = new(() =>
    {
        if (!File.Exists("/var/run/docker.sock"))
        {
            return (false, "no /var/run/docker.sock");
        }

        var run = Docker("image", "inspect", "drtest/app:2.3.0", "drtest/app:2.3.1");
        return run.ExitCode == 0 ? (true, "ok") : (false, "test images missing: " + run.CombinedOutput.Trim());
    });

    public static bool Available => Probe.Value.Available;
    public static string Reason => Probe.Value.Reason;

    /// <summary>The Debian docker client when present (it speaks the engine's API version), else the one on PATH.</summary>
    public static string Cli => File.Exists("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

    public static ProcessRunResult Docker(params string[] arguments) =>
        ProcessRunner.RunAsync(new ProcessRequest(Cli, arguments) { Timeout = TimeSpan.FromMinutes(2) }, default).GetAwaiter().GetResult();

    public static string DockerOk(params string[] arguments)
    {
        var run = Docker(arguments);
        Assert.True(run.ExitCode == 0, $"docker {string.Join(' ', arguments)} failed: {run.CombinedOutput}");
        return run.StandardOutput.Trim();
    }

    public static string Inspect(string container, string format) => DockerOk("inspect", "-f", format, container);
}

/// <summary>
/// The app printing logs at start (tests/Fixtures/app-image/logs.Dockerfile), built by tests/Fixtures/Initialize-Docker.ps1
/// and here when missing. Each prints its lines once: <see cref="Failing"/> 4 error lines in 10 (unhealthy, as
/// drtest/app:2.3.1), <see cref="Quiet"/> 1 in 8 and <see cref="Noisy"/> 5 in 6 (both healthy, as drtest/app:2.3.0).
/// </summary>
public static class LogImages
{
    public const string Failing = "drtest/app-logs:2.3.1";
    public const string Quiet = "drtest/app-logs:2.3.0";
    public const string Noisy = "drtest/app-logs:2.2.9";

    private static readonly Lazy<bool> Built = new(() =>
    {
        var context = Fixtures.Locate("app-image");
        foreach (var (image, app, log) in new[] { (Failing, "2.3.1", "failing"), (Quiet, "2.3.0", "quiet"), (Noisy, "2.3.0", "noisy") })
        {
            if (DockerHost.Docker("image", "inspect", image).ExitCode != 0)
            {
                DockerHost.DockerOk("build", "-q", "-f", Path.Combine(context, "logs.Dockerfile"), "--build-arg", $"BASE=drtest/app:{app}", "--build-arg", $"LOG=logs/{log}", "-t", image, context);
            }
        }

        return true;
    });

    public static void Ensure() => _ = Built.Value;
}

/// <summary>A container (and anything named after it) made by one test and removed after it.</summary>
public sealed class TestContainer : IDisposable
{
    public TestContainer(string image, params string[] extraRunArguments)
        : this("drtest-", image, extraRunArguments)
    {
    }

    private TestContainer(string prefix, string image, string[] extraRunArguments)
    {
        Name = prefix + Guid.NewGuid().ToString("N")[..8];
        Port = LocalHttpServer.FreePort();
        var arguments = new List<string> { "run", "-d", "--init", "--network", "host", "--name", Name, "--label", "drtest.owner=unit", "-e", $"APP_PORT={Port}", "-e", "API_TOKEN=s3cr3t-token-value" };
        arguments.AddRange(extraRunArguments);
        arguments.Add(image);
        DockerHost.DockerOk(arguments.ToArray());
    }

    /// <summary>A container whose name starts with prefix (tests of one feature can then be told apart on a shared engine).</summary>
    public static TestContainer Prefixed(string prefix, string image, params string[] extraRunArguments) => new(prefix, image, extraRunArguments);

    public string Name { get; }
    public int Port { get; }
    public string HealthUri => $"http://127.0.0.1:{Port}/health";

    public string WaitForHealth(string wanted, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        string status;
        do
        {
            status = DockerHost.Inspect(Name, "{{if .State.Health}}{{.State.Health.Status}}{{end}}");
            if (status == wanted)
            {
                return status;
            }

            Thread.Sleep(250);
        }
        while (DateTime.UtcNow < deadline);
        return status;
    }

    public void Dispose()
    {
        var all = DockerHost.Docker("ps", "-a", "--filter", $"name={Name}", "--format", "{{.Names}}").StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var container in all)
        {
            DockerHost.Docker("rm", "-f", container);
        }
    }
}
