from tests.factories import login


def test_it_serves_login_page(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert "csrf_token" in r.text


def test_it_logs_in(client, personas):
    login(client, "alice")
    r = client.get("/")
    assert r.status_code == 200, r.text
    assert "Users" in r.text
