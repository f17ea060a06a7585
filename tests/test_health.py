def test_health_answers_for_an_anonymous_visitor(client, db):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "authenticated": False, "user": None}
