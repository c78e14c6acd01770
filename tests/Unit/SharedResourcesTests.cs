using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>What a selection's runs share: made once however many runs ask at once, disposed with the selection.</summary>
public class SharedResourcesTests
{
    [Fact]
    public async Task Makes_each_keys_object_once_under_concurrent_runs()
    {
        using var shared = new SharedResources();
        var made = 0;
        var objects = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => shared.GetOrAdd("cluster", () =>
        {
            Interlocked.Increment(ref made);
            Thread.Sleep(5);
            return new Disposable();
        }))));

        Assert.Equal(1, made);
        Assert.All(objects, o => Assert.Same(objects[0], o));
        Assert.NotSame(objects[0], shared.GetOrAdd("another cluster", () => new Disposable()));
    }

    [Fact]
    public void Disposes_what_it_made_when_disposed()
    {
        var shared = new SharedResources();
        var first = shared.GetOrAdd("a", () => new Disposable());
        var second = shared.GetOrAdd("b", () => new Disposable());

        shared.Dispose();

        Assert.True(first.Disposed);
        Assert.True(second.Disposed);
    }

    private sealed class Disposable : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }
}
