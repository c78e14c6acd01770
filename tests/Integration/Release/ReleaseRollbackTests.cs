using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Release;

/// <summary>The release-folder strategy on real folders and symbolic links (releases/&lt;version&gt;/ and current).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class ReleaseRollbackTests
{
    /// <summary>A deploy folder with releases 20240101000000 (2.2), 20240201000000 (2.3) and 20240301000000 (2.4, live).</summary>
    private static string Deploy(TempDirectory temp, params string[] releases)
    {
        var root = temp.Combine("deploy");
        foreach (var release in releases.Length > 0 ? releases : new[] { "20240101000000", "20240201000000", "20240301000000" })
        {
            Directory.CreateDirectory(Path.Combine(root, "releases", release));
            File.WriteAllText(Path.Combine(root, "releases", release, "VERSION"), release);
        }

        Point(root, Directory.GetDirectories(Path.Combine(root, "releases")).Select(Path.GetFileName).Order(StringComparer.Ordinal).Last()!);
        return root;
    }

    private static void Point(string root, string release)
    {
        var link = Path.Combine(root, "current");
        if (File.Exists(link) || Directory.Exists(link))
        {
            File.Delete(link);
        }

        File.CreateSymbolicLink(link, Path.Combine("releases", release));
    }

    private static string Live(string root) => File.ReadAllText(Path.Combine(root, "current", "VERSION"));

    [Fact]
    public async Task Goes_back_to_the_previous_release_keeps_the_failed_one_and_a_rerun_is_skipped()
    {
        using var git = new GitFixture();
        var root = Deploy(git.Temp);
        var request = new RollbackRequest { Deployment = new ReleaseTarget { Path = root } };

        var result = await RollbackEngine.InvokeAsync(request, git.Context());
        var again = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(("20240301000000", "20240201000000"), (result.FromVersion, result.ToVersion));
        Assert.Equal("20240201000000", Live(root));
        Assert.Equal(Path.Combine("releases", "20240201000000"), new FileInfo(Path.Combine(root, "current")).LinkTarget);
        Assert.True(Directory.Exists(Path.Combine(root, "releases", "20240301000000")));
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
        Assert.Empty(Directory.EnumerateFileSystemEntries(root, ".current.*"));
    }

    [Fact]
    public async Task The_default_target_is_the_release_recorded_verified_good()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var root = Deploy(git.Temp);
        Point(root, "20240101000000");
        var request = new RollbackRequest { Deployment = new ReleaseTarget { Path = root }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };
        await RollbackEngine.TestHealthAsync(request, null, recordVerified: true, signalOnFailure: false, git.Context());
        Point(root, "20240301000000");

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal("20240101000000", result!.ToVersion);
        Assert.Equal(RollbackOutcome.Succeeded, result.Outcome);
        Assert.Equal(VerificationOutcome.Passed, result.Verification);
    }

    [Fact]
    public async Task Versions_sort_as_numbers_and_an_unverified_rollback_is_put_back()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (503, "down"));
        var root = Deploy(git.Temp, "v2.9.0", "v2.10.0", "v2.11.0");
        var request = new RollbackRequest
        {
            Deployment = new ReleaseTarget { Path = root },
            Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 } } },
        };

        // Ordinal order would make v2.9.0 the newest; version order makes v2.11.0 live and v2.10.0 the one before.
        Point(root, "v2.11.0");
        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal("v2.10.0", result!.ToVersion);
        Assert.Equal(RollbackOutcome.Failed, result.Outcome);
        Assert.Equal("v2.11.0", Live(root));
    }

    [Fact]
    public async Task A_reader_going_through_current_while_it_switches_never_misses_it()
    {
        using var git = new GitFixture();
        var root = Deploy(git.Temp);
        var misses = 0;
        var reads = 0;
        using var stop = new CancellationTokenSource();
        // A thread of its own: a pool task may not be scheduled at all while a loaded machine runs the switches.
        var reader = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    _ = File.ReadAllText(Path.Combine(root, "current", "VERSION"));
                    Interlocked.Increment(ref reads);
                }
                catch (IOException)
                {
                    Interlocked.Increment(ref misses);
                }
            }
        });
        reader.Start();
        while (Volatile.Read(ref reads) == 0)
        {
            await Task.Delay(1);
        }

        var before = Volatile.Read(ref reads);
        for (var i = 0; i < 20; i++)
        {
            await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ReleaseTarget { Path = root }, Target = i % 2 == 0 ? "20240201000000" : "20240301000000" }, git.Context());
        }

        stop.Cancel();
        reader.Join();
        Assert.True(reads > before, "the reader read nothing while current was switched");
        Assert.Equal(0, misses);
    }

    [Fact]
    public async Task A_folder_that_is_not_a_release_layout_or_an_unknown_release_is_refused_before_anything_changes()
    {
        using var git = new GitFixture();
        var root = Deploy(git.Temp);

        var layout = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ReleaseTarget { Path = git.Temp.Path } }, git.Context()));
        var unknown = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ReleaseTarget { Path = root }, Target = "1999" }, git.Context()));

        Assert.Equal("ReleaseLayoutInvalid", layout.ErrorId);
        Assert.Equal("ReleaseNotFound", unknown.ErrorId);
        Assert.Equal("20240301000000", Live(root));
    }
}
