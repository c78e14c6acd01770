using System.Net;
using System.Net.Sockets;
using DeploymentRollback.Engine;
using LibGit2Sharp;

namespace DeploymentRollback.Tests;

/// <summary>The projects under tests/Fixtures, copied into a test's own folder (without build or database leftovers).</summary>
public static class Fixtures
{
    /// <summary>A restart script ("slow restart") that cancels the run it is part of, then waits to be cancelled.</summary>
    public static ScriptAction RestartThatCancels(CancellationTokenSource cancel) => new("slow restart", async token =>
    {
        cancel.Cancel();
        await Task.Delay(TimeSpan.FromSeconds(30), token);
        return new ScriptOutcome(true, "", 0);
    });

    public static void CopyTo(string fixture, string destination)
    {
        var source = Locate(fixture);
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains("__pycache__") && !f.EndsWith(".db", StringComparison.Ordinal) && !f.EndsWith(".sqlite3", StringComparison.Ordinal)))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    public static string Locate(string fixture)
    {
        var directory = AppContext.BaseDirectory;
        while (!Directory.Exists(Path.Combine(directory, "tests", "Fixtures", fixture)))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new DirectoryNotFoundException("tests/Fixtures/" + fixture);
        }

        return Path.Combine(directory, "tests", "Fixtures", fixture);
    }
}

/// <summary>A temp folder removed at the end of the test.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dr-unit-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine(new[] { Path }.Concat(parts).ToArray());

    public void Dispose()
    {
        try
        {
            foreach (var file in Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories))
            {
                File.SetAttributes(file, FileAttributes.Normal);
            }

            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A real git repository with releases, made with LibGit2Sharp in a temp folder.</summary>
public sealed class GitFixture : IDisposable
{
    private readonly TempDirectory temp = new();
    private int counter;

    public GitFixture()
    {
        RepoPath = temp.Combine("repo");
        StatePath = temp.Combine("state");
        Repository.Init(RepoPath);
        using var repo = Open();
        repo.Config.Set("user.name", "Test Deployer");
        repo.Config.Set("user.email", "deployer@example.invalid");
    }

    public string RepoPath { get; }
    public string StatePath { get; }
    public TempDirectory Temp => temp;

    public Repository Open() => new(RepoPath);

    public string Commit(string message, string file = "app.txt", string? content = null)
    {
        File.WriteAllText(System.IO.Path.Combine(RepoPath, file), content ?? $"{message} {++counter}\n");
        using var repo = Open();
        Commands.Stage(repo, file);
        var signature = new Signature("Test Deployer", "deployer@example.invalid", DateTimeOffset.Now.AddMinutes(counter));
        return repo.Commit(message, signature, signature).Sha;
    }

    public void Tag(string name, string? sha = null)
    {
        using var repo = Open();
        repo.ApplyTag(name, sha ?? repo.Head.Tip.Sha);
    }

    /// <summary>v2.2.0, v2.3.0 (good), then v2.3.1 (bad) on top; HEAD on main at v2.3.1.</summary>
    public GitFixture WithReleases()
    {
        Commit("Release 2.2.0");
        Tag("v2.2.0");
        Commit("Release 2.3.0", content: "good\n");
        Tag("v2.3.0");
        Commit("Release 2.3.1", content: "bad\n");
        Tag("v2.3.1");
        return this;
    }

    public string HeadSha
    {
        get
        {
            using var repo = Open();
            return repo.Head.Tip.Sha;
        }
    }

    public string TagSha(string name)
    {
        using var repo = Open();
        return repo.Tags[name].PeeledTarget.Sha;
    }

    public string ReadFile(string file = "app.txt") => File.ReadAllText(System.IO.Path.Combine(RepoPath, file));

    /// <summary>Runs the real git in the repository (what a user's own git leaves on disk, e.g. packed references); returns its output.</summary>
    public string RunGit(params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = RepoPath, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var git = System.Diagnostics.Process.Start(start)!;
        var error = git.StandardError.ReadToEndAsync();
        var output = git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        if (git.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', arguments)} exited with {git.ExitCode}: {error.Result}");
        }

        return output.Trim();
    }

    public StateRoot State() => StateRoot.Open(StatePath);

    public EngineContext Context(IRollbackObserver? observer = null, CancellationToken cancellation = default) =>
        new(State(), observer ?? new RecordingObserver(), cancellation);

    public void Dispose() => temp.Dispose();
}

/// <summary>Records what the engine asks and says; answers ShouldProcess as told.</summary>
public sealed class RecordingObserver : IRollbackObserver
{
    private readonly bool consent;

    public RecordingObserver(bool consent = true)
    {
        this.consent = consent;
    }

    public List<string> Asked { get; } = new();
    public List<string> Messages { get; } = new();
    public List<ProgressUpdate> ProgressUpdates { get; } = new();

    public void Progress(ProgressUpdate update)
    {
        lock (ProgressUpdates)
        {
            ProgressUpdates.Add(update);
        }
    }

    public void Verbose(string message)
    {
        lock (Messages)
        {
            Messages.Add(message);
        }
    }

    public void Warning(string message) => Verbose("WARNING: " + message);

    public Task<bool> ShouldProcessAsync(string target, string action)
    {
        lock (Asked)
        {
            Asked.Add(action);
        }

        return Task.FromResult(consent);
    }
}

/// <summary>A real HTTP server on loopback whose answers a test decides.</summary>
public sealed class LocalHttpServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;

    public LocalHttpServer(Func<HttpListenerRequest, string, (int Status, string Body)> handler)
    {
        Port = FreePort();
        listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        listener.Start();
        loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (HttpListenerException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                lock (Requests)
                {
                    Requests.Add((context.Request.HttpMethod, context.Request.Url!.AbsolutePath, context.Request.ContentType, body));
                }

                var (status, responseBody) = handler(context.Request, body);
                var bytes = System.Text.Encoding.UTF8.GetBytes(responseBody);
                context.Response.StatusCode = status;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        });
    }

    public int Port { get; }
    public string Url(string path = "/health") => $"http://127.0.0.1:{Port}{path}";
    public List<(string Method, string Path, string? ContentType, string Body)> Requests { get; } = new();

    /// <summary>
    /// A free loopback port for a server started a moment later, below the kernel's ephemeral range (as the Pester
    /// tests' Get-FreePort): a port of that range can be given to any outgoing connection before the server binds it.
    /// </summary>
    public static int FreePort()
    {
        var low = 32768;
        const string range = "/proc/sys/net/ipv4/ip_local_port_range";
        if (File.Exists(range) && int.TryParse(File.ReadAllText(range).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], out var first))
        {
            low = first;
        }

        for (var i = 0; i < 100 && low > 11000; i++)
        {
            var port = Random.Shared.Next(10000, low);
            var probe = new TcpListener(IPAddress.Loopback, port);
            try
            {
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another.
            }
            finally
            {
                probe.Stop();
            }
        }

        var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        var chosen = ((IPEndPoint)socket.LocalEndpoint).Port;
        socket.Stop();
        return chosen;
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Close();
        try
        {
            loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
    }
}

/// <summary>A named pipe (FIFO) made with mkfifo(3): opening it for reading blocks until a writer comes.</summary>
public static class Fifo
{
    public static void Make(string path) => Xunit.Assert.True(Mkfifo(path, 0x1a4) == 0, $"mkfifo {path} failed");

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);
}

public static class RequestExtensions
{
    /// <summary>The request with its target record changed, as a strategy's parameters would change it.</summary>
    public static RollbackRequest WithTarget<T>(this RollbackRequest request, Func<T, T> change) where T : DeploymentTarget =>
        request with { Deployment = change(request.DeploymentAs<T>()) };
}

public static class TestPaths
{
    /// <summary>The repository's root: the nearest folder above the test binaries that holds tests/Fixtures.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        var directory = AppContext.BaseDirectory;
        while (!Directory.Exists(System.IO.Path.Combine(directory, "tests", "Fixtures")))
        {
            directory = System.IO.Path.GetDirectoryName(directory) ?? throw new DirectoryNotFoundException("tests/Fixtures above " + AppContext.BaseDirectory);
        }

        return directory;
    }
}
