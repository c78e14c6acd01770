using DeploymentRollback.Engine.Database;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

public class DatabaseConnectionTests
{
    [Fact]
    public void An_Npgsql_connection_string_becomes_a_pg_dump_connection_string_without_its_password()
    {
        var full = DatabaseSession.NpgsqlDatabase(@"Host=db.internal;Port=6432;Database=""it's"";Username=app;Password=""p'w\x;y"";SSL Mode=VerifyFull;Pooling=false");
        var synonyms = DatabaseSession.NpgsqlDatabase("server=10.0.0.5;User ID=u;PWD=x;DB=shop");

        Assert.NotNull(full);
        Assert.Equal(@"host='db.internal' port='6432' dbname='it\'s' user='app' sslmode='verify-full'", full.DbName);
        Assert.Equal(@"p'w\x;y", full.Password);
        Assert.Equal("db.internal:6432/it's", full.Description);
        Assert.Equal(new DatabaseSession.PgDatabase("host='10.0.0.5' dbname='shop' user='u'", "x", "10.0.0.5:5432/shop"), synonyms);
        Assert.Null(DatabaseSession.NpgsqlDatabase("Data Source=app.db"));
        Assert.Null(DatabaseSession.NpgsqlDatabase("postgresql://u:p@db/shop"));
        Assert.Null(DatabaseSession.NpgsqlDatabase("Production"));
    }
}
