using DeploymentRollback.Engine.DockerCompose;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>
/// Compose's 'config' answer is kept only for files that read nothing outside themselves, under a key that changes
/// with anything else that could change the answer; a kept answer that is not for the key, or not a configuration,
/// is never used.
/// </summary>
public sealed class ComposeConfigCacheTests : IDisposable
{
    private const string Plain = """
        version: "2.4"
        services:
          web:
            image: drtest/app:2.3.0
            environment:
              DB_PASSWORD: "hunter2-cache"
        """;

    private readonly string folder = Directory.CreateTempSubdirectory("dr-compose-cache-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string? Key(params string[] files) => ComposeConfigCache.KeyOf("docker-compose version 1.29.2", folder, "shop", files);

    [Fact]
    public void A_self_contained_file_has_a_key_that_follows_its_bytes_the_cli_the_project_and_the_env_file()
    {
        var file = Write("docker-compose.previous.yml", Plain);
        var key = Key(file);

        Assert.NotNull(key);
        Assert.Equal(key, Key(file));
        Assert.NotEqual(key, ComposeConfigCache.KeyOf("docker-compose version 1.29.3", folder, "shop", new[] { file }));
        Assert.NotEqual(key, ComposeConfigCache.KeyOf("docker-compose version 1.29.2", folder, "other", new[] { file }));
        Write(".env", "COMPOSE_PROJECT_NAME=x\n");
        var withEnv = Key(file);
        Assert.NotEqual(key, withEnv);
        Write("docker-compose.previous.yml", Plain.Replace("2.3.0", "2.3.1"));
        Assert.NotEqual(withEnv, Key(file));
    }

    [Theory]
    [InlineData("    image: drtest/app:${TAG}\n")]
    [InlineData("    image: drtest/app:2.3.0\n    env_file: web.env\n")]
    [InlineData("    image: drtest/app:2.3.0\n    extends:\n      file: common.yml\n      service: base\n")]
    [InlineData("    build: .\n")]
    [InlineData("    image: drtest/app:2.3.0\n    secrets: [db]\n")]
    [InlineData("    image: [not closed\n")]
    public void A_file_that_reads_something_else_or_is_not_yaml_has_no_key(string service)
    {
        var file = Write("docker-compose.yml", "version: \"2.4\"\nservices:\n  web:\n" + service);

        Assert.Null(Key(file));
    }

    [Fact]
    public void Without_files_named_the_files_Compose_reads_by_default_are_in_the_key()
    {
        Write("docker-compose.yml", Plain);
        var key = Key();
        Assert.NotNull(key);
        // Another file in the folder is not read by default.
        Write("docker-compose.previous.yml", Plain.Replace("2.3.0", "${TAG}"));
        Assert.Equal(key, Key());

        Write("docker-compose.override.yml", "version: \"2.4\"\nservices:\n  web:\n    env_file: web.env\n");

        Assert.Null(Key());
    }

    [Fact]
    public void Without_files_named_a_COMPOSE_FILE_in_the_env_file_means_no_key_and_a_named_files_own_env_file_is_in_the_key()
    {
        Write("docker-compose.yml", Plain);
        Write(".env", "COMPOSE_FILE=docker-compose.yml:other.yml\n");

        Assert.Null(Key());

        var elsewhere = Directory.CreateDirectory(Path.Combine(folder, "previous")).FullName;
        var file = Path.Combine(elsewhere, "docker-compose.yml");
        File.WriteAllText(file, Plain);
        var key = Key(file);
        Assert.NotNull(key);
        File.WriteAllText(Path.Combine(elsewhere, ".env"), "COMPOSE_COMPATIBILITY=true\n");
        Assert.NotEqual(key, Key(file));
    }

    [Fact]
    public void A_kept_answer_is_used_only_for_its_key_and_is_kept_redacted()
    {
        var file = Write("docker-compose.previous.yml", Plain);
        var key = Key(file)!;
        var entry = ComposeConfigCache.EntryPath(Path.Combine(folder, "cache"), folder, "shop", new[] { file });

        Assert.Null(ComposeConfigCache.Load(entry, key));
        ComposeConfigCache.Save(entry, key, Plain);

        var kept = ComposeConfigCache.Load(entry, key);
        Assert.NotNull(kept);
        Assert.Contains("drtest/app:2.3.0", kept);
        Assert.DoesNotContain("hunter2-cache", File.ReadAllText(entry));
        Assert.Null(ComposeConfigCache.Load(entry, key.Replace(key[0], key[0] == 'A' ? 'B' : 'A')));
    }

    [Theory]
    [InlineData("not: [a configuration")]
    [InlineData("just text")]
    [InlineData("")]
    public void A_damaged_entry_is_not_used(string content)
    {
        var file = Write("docker-compose.previous.yml", Plain);
        var key = Key(file)!;
        var entry = ComposeConfigCache.EntryPath(Path.Combine(folder, "cache"), folder, "shop", new[] { file });
        Directory.CreateDirectory(Path.GetDirectoryName(entry)!);
        File.WriteAllText(entry, key + "\n" + content);

        Assert.Null(ComposeConfigCache.Load(entry, key));
        File.WriteAllBytes(entry, [.. System.Text.Encoding.UTF8.GetBytes(key + "\nservices:\n  web: "), 0xC3, 0x28]);
        Assert.Null(ComposeConfigCache.Load(entry, key));
    }

    [Fact]
    public void A_cache_folder_that_cannot_be_written_is_not_an_error()
    {
        var file = Write("docker-compose.previous.yml", Plain);
        var blocked = Write("cache", "a file where the folder should be");

        var entry = ComposeConfigCache.EntryPath(blocked, folder, "shop", new[] { file });

        ComposeConfigCache.Save(entry, Key(file)!, Plain);

        Assert.Equal("a file where the folder should be", File.ReadAllText(blocked));
        Assert.Null(ComposeConfigCache.Load(entry, Key(file)!));
    }
}
