// The tutorial's promises program ("How To Write Asynchronous Code in Node.js"), as written
// there, but for the API's address, taken from GHIBLI_API_URL as the C version does.
const axios = require('axios');
const fs = require('fs').promises;

const api = process.env.GHIBLI_API_URL || 'https://ghibliapi.vercel.app';

axios.get(`${api}/films`)
    .then((response) => {
        console.log('Successfully retrieved our list of movies');
        let movieList = '';
        response.data.forEach(movie => {
            movieList += `${movie['title']}, ${movie['release_date']}\n`;
        });

        return fs.writeFile('promiseMovies.csv', movieList);
    })
    .then(() => {
        console.log('Saved our list of movies to promiseMovies.csv');
    })
    .catch((error) => {
        console.error(`Could not save the Ghibli movies to a file: ${error}`);
    });
