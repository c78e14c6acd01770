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

/// <summary>A container (and anything named after it) made by one test and removed after it.</summary>
public sealed class TestContainer : IDisposable
{
    public TestContainer(string image, params string[] extraRunArguments)
    {
        Name = "drtest-" + Guid.NewGuid().ToString("N")[..8];
        Port = LocalHttpServer.FreePort();
        var arguments = new List<string> { "run", "-d", "--init", "--network", "host", "--name", Name, "--label", "drtest.owner=unit", "-e", $"APP_PORT={Port}", "-e", "API_TOKEN=s3cr3t-token-value" };
        arguments.AddRange(extraRunArguments);
        arguments.Add(image);
        DockerHost.DockerOk(arguments.ToArray());
    }

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
